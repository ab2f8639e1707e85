// check.mjs runs the kernel module (argv[2]) in Node on many shapes against a float64
// reference, checks that nothing outside C's block is written, and times one shape.
// It prints a JSON report; the exit status is 1 on a wrong result.
import fs from "node:fs";

const bytes = fs.readFileSync(process.argv[2]);
const mem = new WebAssembly.Memory({ initial: 256 }); // 16 MiB
const { instance } = await WebAssembly.instantiate(bytes, { env: { mem } });
const sgemm = instance.exports.sgemm_nt;
const F = new Float32Array(mem.buffer);

let seed = 12345;
const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed / 4294967296) * 2 - 1; };
const SENTINEL = 777.25;

function run(m, n, k, lda, ldb, ldc, alpha, beta, fillC) {
  const A = 256, B = A + m * lda + 64, C = B + n * ldb + 64, end = C + m * ldc + 64;
  F.fill(SENTINEL, 0, end);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) F[A + i * lda + p] = rnd();
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) F[B + j * ldb + p] = rnd();
  const old = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    old[i * n + j] = fillC(i, j);
    F[C + i * ldc + j] = old[i * n + j];
  }
  const before = F.slice(0, end);
  sgemm(m, n, k, 4 * A, lda, 4 * B, ldb, 4 * C, ldc, alpha, beta);
  let worst = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0, mag = 0;
    for (let p = 0; p < k; p++) {
      const x = F[A + i * lda + p] * F[B + j * ldb + p];
      s += x; mag += Math.abs(x);
    }
    const want = alpha * s + (beta !== 0 ? beta * old[i * n + j] : 0);
    const got = F[C + i * ldc + j];
    const tol = 1e-6 * (Math.abs(alpha) * mag + (beta !== 0 ? Math.abs(beta * old[i * n + j]) : 0)) + 1e-7;
    const err = Math.abs(got - want);
    if (!(err <= tol)) throw new Error(`m=${m} n=${n} k=${k} beta=${beta}: C[${i},${j}] = ${got}, want ${want}`);
    worst = Math.max(worst, err / (tol || 1));
  }
  for (let x = 0; x < end; x++) {
    const inC = x >= C && x < C + m * ldc && (x - C) % ldc < n;
    if (!inC && !Object.is(F[x], before[x])) throw new Error(`m=${m} n=${n} k=${k}: wrote outside C at float ${x}`);
  }
  return worst;
}

let worst = 0, cases = 0;
for (const [m, n, k] of [[2, 4, 4], [2, 8, 4], [4, 4, 8], [6, 12, 20], [10, 16, 64], [32, 4, 128], [64, 36, 256]]) {
  for (const pad of [0, 3]) {
    for (const [alpha, beta, fill] of [[1, 0, () => NaN], [0.5, 1, () => rnd()], [-2, 0.25, () => rnd()]]) {
      worst = Math.max(worst, run(m, n, k, k + pad, k + 2 * pad, n + pad, alpha, beta, fill));
      cases++;
    }
  }
}

// Speed on a layer of the demo model: (64, 256) x (768, 256)^T.
const [m, n, k] = [64, 768, 256];
run(m, n, k, k, k, n, 1, 0, () => 0);
const A = 256, B = A + m * k + 64, C = B + n * k + 64;
let reps = 0;
const t0 = performance.now();
while (performance.now() - t0 < 300) { sgemm(m, n, k, 4 * A, k, 4 * B, k, 4 * C, n, 1, 0); reps++; }
const secs = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ ok: true, cases, worstRelToTol: worst, gflops: (2 * m * n * k * reps) / secs / 1e9 }));
