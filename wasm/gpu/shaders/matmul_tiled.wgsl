// matmul_tiled.wgsl: the same product as matmul.wgsl, out(M, N) = x(M, K) W^T (out += x W^T
// when ACCUMULATE), in workgroup-memory tiles, for real GPUs, where a tile of x or W read
// once from memory feeds 64 rows or columns. It is the shared body: the file joined before
// it (matmul_tiled_f32.wgsl, matmul_tiled_q8_0.wgsl or matmul_tiled_q4_0.wgsl) declares
// binding 2, `w`, and
//   fn w_quad(n: u32, k4: u32) -> vec4<f32>
// which returns W[n, 4*k4..4*k4+3] as f32 (dequantised in the quantised variants).
//
// A workgroup of 16x16 invocations computes a 64x64 tile of out: invocation (tx, ty)
// holds the 4x4 block of rows ty + 16i and columns tx + 16j in registers (strided, so that
// neighbouring invocations read neighbouring tile entries). K goes by 16 at a time: the
// workgroup loads 64 rows of x and of W, 16 values each (one vec4 of each per
// invocation, W dequantised on load, zeros past M, N or K), waits at a barrier, multiplies,
// and waits again before the next load. Each out value sums its products in the same
// order as matmul.wgsl (vec4 dot products, k ascending). The tiles are stored k-major so
// that the 16 invocations of a row of the workgroup read 16 consecutive vec4s. Dispatch
// (ceil(N/64), ceil(M/64)).

override ACCUMULATE: bool = false;

struct Params { M: u32, N: u32, K: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// xt[k4 * 64 + r] = x[m0 + r, 4*(k0 + k4)..+3], and wt likewise for W; k4 in 0..3.
var<workgroup> xt: array<vec4<f32>, 256>;
var<workgroup> wt: array<vec4<f32>, 256>;

// store writes row m of this invocation's block, a[j] to out[m, n + 16j] (plus its old
// value when ACCUMULATE), within bounds.
fn store(m: u32, n: u32, a: vec4<f32>) {
  if (m >= p.M) {
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    let c = n + 16u * j;
    if (c < p.N) {
      var v = a[j];
      if (ACCUMULATE) {
        v = out[m * p.N + c] + v;
      }
      out[m * p.N + c] = v;
    }
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) li: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let m0 = wg.y * 64u;
  let n0 = wg.x * 64u;
  let K4 = p.K / 4u;
  // This invocation loads row lr, vec4 lk of each tile.
  let lr = lid / 4u;
  let lk = lid % 4u;
  // a_i[j] accumulates out[m0 + ty + 16i, n0 + tx + 16j]; named, not an array, so that
  // they stay in registers whatever the compiler unrolls.
  var a0: vec4<f32>;
  var a1: vec4<f32>;
  var a2: vec4<f32>;
  var a3: vec4<f32>;
  for (var k0 = 0u; k0 < K4; k0 += 4u) {
    let k4 = k0 + lk;
    var xv = vec4<f32>(0.0);
    if (m0 + lr < p.M && k4 < K4) {
      xv = x[(m0 + lr) * K4 + k4];
    }
    xt[lk * 64u + lr] = xv;
    var wv = vec4<f32>(0.0);
    if (n0 + lr < p.N && k4 < K4) {
      wv = w_quad(n0 + lr, k4);
    }
    wt[lk * 64u + lr] = wv;
    workgroupBarrier();
    for (var k = 0u; k < 4u; k++) {
      let o = k * 64u;
      let w0 = wt[o + li.x];
      let w1 = wt[o + li.x + 16u];
      let w2 = wt[o + li.x + 32u];
      let w3 = wt[o + li.x + 48u];
      let x0 = xt[o + li.y];
      a0 += vec4<f32>(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
      let x1 = xt[o + li.y + 16u];
      a1 += vec4<f32>(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
      let x2 = xt[o + li.y + 32u];
      a2 += vec4<f32>(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
      let x3 = xt[o + li.y + 48u];
      a3 += vec4<f32>(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
    }
    workgroupBarrier();
  }
  let n = n0 + li.x;
  store(m0 + li.y, n, a0);
  store(m0 + li.y + 16u, n, a1);
  store(m0 + li.y + 32u, n, a2);
  store(m0 + li.y + 48u, n, a3);
}
