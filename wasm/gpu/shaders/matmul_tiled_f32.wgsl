// matmul_tiled_f32.wgsl: W as f32, for matmul_tiled.wgsl.

@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;

fn w_quad(n: u32, k4: u32) -> vec4<f32> {
  return w[n * (p.K / 4u) + k4];
}
