// rmsnorm.wgsl: out = x / sqrt(mean(x^2) + eps) * w per row; x, out are (M, D), w is (D).
// One workgroup per row; dispatch (M).

struct Params { M: u32, D: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG = 256u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wg.x * p.D;
  var ss = 0.0;
  for (var i = t; i < p.D; i += WG) {
    let v = x[row + i];
    ss += v * v;
  }
  red[t] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      red[t] += red[t + s];
    }
    workgroupBarrier();
  }
  let rs = 1.0 / sqrt(red[0] / f32(p.D) + p.eps);
  for (var i = t; i < p.D; i += WG) {
    out[row + i] = x[row + i] * rs * w[i];
  }
}
