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
const { pack, gemm_nt, gemm_nn, softmax, swiglu, rmsnorm } = instance.exports;
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
const shapes = [[1, 6, 4], [8, 6, 4], [8, 4, 4], [16, 4, 12], [3, 7, 8], [9, 13, 12], [16, 12, 20], [17, 23, 64], [33, 64, 128], [64, 36, 256], [7, 5, 8]];
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

// softmax against float64 rows, causal or not, row lengths with every remainder mod 4;
// then swiglu. Both to 2e-6 relative (float32 sums), nothing written outside.
function checkRows(rows, l, causal, scale) {
  const S = 256, end = S + rows * l + 64;
  F.fill(SENTINEL, 0, end);
  for (let x = S; x < S + rows * l; x++) F[x] = scale * rnd();
  const before = F.slice(0, end);
  softmax(4 * S, rows, l, causal ? 1 : 0);
  for (let r = 0; r < rows; r++) {
    const n = causal ? (r % l) + 1 : l, row = S + r * l;
    let mx = -Infinity, sum = 0;
    for (let j = 0; j < n; j++) mx = Math.max(mx, before[row + j]);
    for (let j = 0; j < n; j++) sum += Math.exp(Math.fround(before[row + j] - mx)); // the kernel subtracts in float32
    for (let j = 0; j < l; j++) {
      const want = j < n ? Math.exp(Math.fround(before[row + j] - mx)) / sum : 0, got = F[row + j];
      if (!(Math.abs(got - want) <= 2e-6 * want + 1e-30)) throw new Error(`softmax rows=${rows} l=${l} causal=${causal}: [${r},${j}] = ${got}, want ${want}`);
    }
  }
  for (let x = 0; x < end; x++) if ((x < S || x >= S + rows * l) && !Object.is(F[x], before[x])) throw new Error(`softmax wrote outside at ${x}`);
}
for (const [rows, l, causal, scale] of [[1, 1, false, 1], [3, 5, false, 10], [7, 7, true, 30], [12, 6, true, 3], [4, 128, false, 50], [256, 128, true, 8]]) {
  checkRows(rows, l, causal, scale); cases++;
}
for (const n of [1, 3, 4, 9, 1000]) {
  const G = 256, U = G + n + 16, O = U + n + 16, end = O + n + 16;
  F.fill(SENTINEL, 0, end);
  for (let i = 0; i < n; i++) { F[G + i] = 30 * rnd() * rnd(); F[U + i] = rnd(); }
  F[G] = -200; if (n > 1) F[G + 1] = 200;
  const before = F.slice(0, end);
  swiglu(4 * O, 4 * G, 4 * U, n);
  for (let i = 0; i < n; i++) {
    const g = before[G + i], want = g / (1 + Math.exp(-g)) * before[U + i], got = F[O + i];
    if (!(Math.abs(got - want) <= 1e-6 * Math.abs(want) + 1e-30)) throw new Error(`swiglu n=${n}: [${i}] = ${got} for gate ${g}, want ${want}`);
  }
  for (let x = 0; x < end; x++) if ((x < O || x >= O + n) && !Object.is(F[x], before[x])) throw new Error(`swiglu wrote outside at ${x}`);
  cases++;
}

// rmsnorm against float64, row lengths off the 4-lane grid.
for (const [m, d] of [[1, 1], [3, 7], [5, 256], [2, 13]]) {
  const I = 256, W = I + m * d + 16, O = W + d + 16, R = O + m * d + 16, end = R + m + 16;
  F.fill(SENTINEL, 0, end);
  for (let i = 0; i < m * d; i++) F[I + i] = 3 * rnd();
  for (let i = 0; i < d; i++) F[W + i] = 1 + rnd();
  const before = F.slice(0, end);
  rmsnorm(4 * O, 4 * R, 4 * I, 4 * W, m, d, 1e-5);
  for (let r = 0; r < m; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += before[I + r * d + i] ** 2;
    const rs = 1 / Math.sqrt(ss / d + 1e-5);
    if (!(Math.abs(F[R + r] - rs) <= 1e-6 * rs)) throw new Error(`rmsnorm m=${m} d=${d}: rstd[${r}] = ${F[R + r]}, want ${rs}`);
    for (let i = 0; i < d; i++) {
      const want = before[I + r * d + i] * rs * before[W + i], got = F[O + r * d + i];
      if (!(Math.abs(got - want) <= 1e-6 * Math.abs(want) + 1e-30)) throw new Error(`rmsnorm m=${m} d=${d}: [${r},${i}] = ${got}, want ${want}`);
    }
  }
  for (let x = 0; x < end; x++) {
    const inOut = (x >= O && x < O + m * d) || (x >= R && x < R + m);
    if (!inOut && !Object.is(F[x], before[x])) throw new Error(`rmsnorm wrote outside at ${x}`);
  }
  cases++;
}

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
