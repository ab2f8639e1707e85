// check.mjs runs the kernel module (argv[2]) in Node on many shapes against a float64
// reference: pack, then gemm_nt and gemm_nn, checking that nothing outside C's block is
// written and that beta = 0 ignores NaN in C; then it times a layer's product. It prints
// a JSON report; the exit status is 1 on a wrong result.
import fs from "node:fs";
import v8 from "node:v8";

// Node 20 validates relaxed SIMD (the fused flavour) only behind a flag.
if (Number(process.versions.node.split(".")[0]) < 22) v8.setFlagsFromString("--experimental-wasm-relaxed-simd");

const bytes = fs.readFileSync(process.argv[2]);
const mem = new WebAssembly.Memory({ initial: 512 }); // 32 MiB
const { instance } = await WebAssembly.instantiate(bytes, { env: { mem } });
const { pack, gemm_nt, gemm_nn } = instance.exports;
const F = new Float32Array(mem.buffer);

let seed = 12345;
const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed / 4294967296) * 2 - 1; };
const SENTINEL = 777.25;

// run checks C = alpha A op(B) + beta C with op(B) = B^T (nt) or B.
function run(nt, m, n, k, lda, ldb, ldc, alpha, beta, fillC) {
  const bRows = nt ? n : k, bCols = nt ? k : n;
  const A = 256, B = A + m * lda + 64, C = B + bRows * ldb + 64, P = C + m * ldc + 64;
  const end = P + Math.ceil(m / 8) * 8 * k + 64;
  F.fill(SENTINEL, 0, end);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) F[A + i * lda + p] = rnd();
  for (let j = 0; j < bRows; j++) for (let p = 0; p < bCols; p++) F[B + j * ldb + p] = rnd();
  const old = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    old[i * n + j] = fillC(i, j);
    F[C + i * ldc + j] = old[i * n + j];
  }
  const before = F.slice(0, end);
  pack(m, k, 4 * A, lda, 4 * P);
  (nt ? gemm_nt : gemm_nn)(m, n, k, 4 * P, 4 * B, ldb, 4 * C, ldc, alpha, beta);
  let worst = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0, mag = 0;
    for (let p = 0; p < k; p++) {
      const x = F[A + i * lda + p] * (nt ? F[B + j * ldb + p] : F[B + p * ldb + j]);
      s += x; mag += Math.abs(x);
    }
    const want = alpha * s + (beta !== 0 ? beta * old[i * n + j] : 0);
    const got = F[C + i * ldc + j];
    const tol = 1e-6 * (Math.abs(alpha) * mag + (beta !== 0 ? Math.abs(beta * old[i * n + j]) : 0)) + 1e-7;
    const err = Math.abs(got - want);
    if (!(err <= tol)) throw new Error(`${nt ? "nt" : "nn"} m=${m} n=${n} k=${k} beta=${beta}: C[${i},${j}] = ${got}, want ${want}`);
    worst = Math.max(worst, err / (tol || 1));
  }
  for (let x = 0; x < P; x++) {
    const inC = x >= C && x < C + m * ldc && (x - C) % ldc < n;
    if (!inC && !Object.is(F[x], before[x])) throw new Error(`${nt ? "nt" : "nn"} m=${m} n=${n} k=${k}: wrote outside C at float ${x}`);
  }
  return worst;
}

let worst = 0, cases = 0;
const shapes = [[1, 6, 4], [8, 6, 4], [3, 7, 8], [9, 13, 12], [16, 12, 20], [17, 23, 64], [33, 64, 128], [64, 36, 256], [7, 5, 8]];
for (const nt of [true, false]) {
  for (const [m, n, k] of shapes) {
    for (const pad of [0, 3]) {
      for (const [alpha, beta, fill] of [[1, 0, () => NaN], [0.5, 1, () => rnd()], [-2, 0.25, () => rnd()]]) {
        if (n < minCols()) continue;
        worst = Math.max(worst, run(nt, m, n, k, k + pad, (nt ? k : n) + 2 * pad, n + pad, alpha, beta, fill));
        cases++;
      }
    }
  }
}
// The narrowest n the module takes (argv[3]): its block of columns.
function minCols() { return Number(process.argv[3]); }

// Speed on a layer of the demo model: (128, 256) x (768, 256)^T, packing included.
function time(nt, m, n, k) {
  const A = 256, B = A + m * k + 64, C = B + n * k + 64, P = C + m * n + 64;
  for (let x = A; x < P + m * k; x++) F[x] = rnd();
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 300) {
    pack(m, k, 4 * A, k, 4 * P);
    (nt ? gemm_nt : gemm_nn)(m, n, k, 4 * P, 4 * B, nt ? k : n, 4 * C, n, 1, 0);
    reps++;
  }
  return (2 * m * n * k * reps) / ((performance.now() - t0) / 1000) / 1e9;
}
console.log(JSON.stringify({ ok: true, cases, worstRelToTol: worst, gflops: time(true, 128, 768, 256), gflopsNN: time(false, 128, 64, 128) }));
