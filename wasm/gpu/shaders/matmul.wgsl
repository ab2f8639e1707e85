// matmul.wgsl: out(M, N) = x(M, K) W^T, and out += x W^T when ACCUMULATE (the residual
// add, fused so the projection's result never makes a round trip through memory). W is
// (N, K) row-major, a PyTorch Linear's weight; K is a multiple of 4 (of 32 for quantised
// W). This is the shared body: the file joined before it (matmul_f32.wgsl,
// matmul_q8_0.wgsl or matmul_q4_0.wgsl) declares binding 2, `w`, and
//   fn mm_loop(n0: u32, n1: u32, n2: u32, n3: u32)
// which walks K over rows n0..n3 of W, calling accumulate with four consecutive values of
// each row (dequantised in the quantised variants).
//
// Each invocation computes an 8x4 block of out from registers alone: no workgroup memory
// and no barriers, which SwiftShader (the software adapter) compiles slowly and runs
// slowly; 8 rows of x share each W value, and 4 rows of W each x value, so every load
// feeds 8 or 4 products. Rows past M or N are clamped to the last one (read but never
// stored). Dispatch (ceil(N/256), ceil(M/8)).

override ACCUMULATE: bool = false;

struct Params { M: u32, N: u32, K: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Row offsets (in vec4s) of this invocation's 8 rows of x, and its accumulators:
// a_i holds out[m0 + i, n0..n0+3].
var<private> xr0: u32;
var<private> xr1: u32;
var<private> xr2: u32;
var<private> xr3: u32;
var<private> xr4: u32;
var<private> xr5: u32;
var<private> xr6: u32;
var<private> xr7: u32;
var<private> a0: vec4<f32>;
var<private> a1: vec4<f32>;
var<private> a2: vec4<f32>;
var<private> a3: vec4<f32>;
var<private> a4: vec4<f32>;
var<private> a5: vec4<f32>;
var<private> a6: vec4<f32>;
var<private> a7: vec4<f32>;

// accumulate adds x[m0+i, 4*k4..4*k4+3] . W[n0+j, same] into a_i[j], given the W values.
fn accumulate(k4: u32, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>) {
  let x0 = x[xr0 + k4];
  a0 += vec4<f32>(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
  let x1 = x[xr1 + k4];
  a1 += vec4<f32>(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
  let x2 = x[xr2 + k4];
  a2 += vec4<f32>(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
  let x3 = x[xr3 + k4];
  a3 += vec4<f32>(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
  let x4 = x[xr4 + k4];
  a4 += vec4<f32>(dot(x4, w0), dot(x4, w1), dot(x4, w2), dot(x4, w3));
  let x5 = x[xr5 + k4];
  a5 += vec4<f32>(dot(x5, w0), dot(x5, w1), dot(x5, w2), dot(x5, w3));
  let x6 = x[xr6 + k4];
  a6 += vec4<f32>(dot(x6, w0), dot(x6, w1), dot(x6, w2), dot(x6, w3));
  let x7 = x[xr7 + k4];
  a7 += vec4<f32>(dot(x7, w0), dot(x7, w1), dot(x7, w2), dot(x7, w3));
}

// store writes row m of the block, columns n0..n0+3, within bounds.
fn store(m: u32, n0: u32, a: vec4<f32>) {
  if (m >= p.M) {
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    let n = n0 + j;
    if (n < p.N) {
      var v = a[j];
      if (ACCUMULATE) {
        v = out[m * p.N + n] + v;
      }
      out[m * p.N + n] = v;
    }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 8u;
  if (n0 >= p.N || m0 >= p.M) {
    return;
  }
  let K4 = p.K / 4u;
  let last = p.M - 1u;
  xr0 = min(m0, last) * K4;
  xr1 = min(m0 + 1u, last) * K4;
  xr2 = min(m0 + 2u, last) * K4;
  xr3 = min(m0 + 3u, last) * K4;
  xr4 = min(m0 + 4u, last) * K4;
  xr5 = min(m0 + 5u, last) * K4;
  xr6 = min(m0 + 6u, last) * K4;
  xr7 = min(m0 + 7u, last) * K4;
  let lastN = p.N - 1u;
  mm_loop(n0, min(n0 + 1u, lastN), min(n0 + 2u, lastN), min(n0 + 3u, lastN));
  store(m0, n0, a0);
  store(m0 + 1u, n0, a1);
  store(m0 + 2u, n0, a2);
  store(m0 + 3u, n0, a3);
  store(m0 + 4u, n0, a4);
  store(m0 + 5u, n0, a5);
  store(m0 + 6u, n0, a6);
  store(m0 + 7u, n0, a7);
}
