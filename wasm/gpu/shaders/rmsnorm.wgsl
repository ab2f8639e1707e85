// rmsnorm.wgsl: out = x / sqrt(mean(x^2) + eps) * w per row; x, out are (M, D), w is (D),
// D a multiple of 4. One invocation per row walks it twice: no workgroup memory and no
// barriers, which SwiftShader (the software adapter) runs very slowly; rows are short
// (D in the hundreds) and there are as many as tokens. Dispatch (ceil(M/64)).

struct Params { M: u32, D: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= p.M) {
    return;
  }
  let D4 = p.D / 4u;
  let row = gid.x * D4;
  var ss = vec4<f32>();
  for (var i = 0u; i < D4; i++) {
    let v = x[row + i];
    ss += v * v;
  }
  let rs = 1.0 / sqrt((ss.x + ss.y + ss.z + ss.w) / f32(p.D) + p.eps);
  for (var i = 0u; i < D4; i++) {
    out[row + i] = x[row + i] * rs * w[i];
  }
}
