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

// store writes out[m, n] (plus its old value when ACCUMULATE), within bounds.
fn store(m: u32, n: u32, v: f32) {
  if (m < p.M && n < p.N) {
    let i = m * p.N + n;
    if (ACCUMULATE) {
      out[i] = out[i] + v;
    } else {
      out[i] = v;
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
  var a: array<vec4<f32>, 4>; // a[i][j] = out[m0 + ty + 16i, n0 + tx + 16j]
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
      let w0 = wt[k * 64u + li.x];
      let w1 = wt[k * 64u + li.x + 16u];
      let w2 = wt[k * 64u + li.x + 32u];
      let w3 = wt[k * 64u + li.x + 48u];
      for (var i = 0u; i < 4u; i++) {
        let xi = xt[k * 64u + li.y + 16u * i];
        a[i] += vec4<f32>(dot(xi, w0), dot(xi, w1), dot(xi, w2), dot(xi, w3));
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + li.y + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      store(m, n0 + li.x + 16u * j, a[i][j]);
    }
  }
}
