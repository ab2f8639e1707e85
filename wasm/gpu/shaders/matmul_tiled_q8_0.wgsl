// matmul_tiled_q8_0.wgsl: W as raw Q8_0 blocks (see quant.wgsl), for matmul_tiled.wgsl.

@group(0) @binding(2) var<storage, read> w: array<u32>;

fn w_quad(n: u32, k4: u32) -> vec4<f32> {
  let b = n * (p.K / 32u) + k4 / 8u;
  return q8_0_quad(b, k4 % 8u, q8_0_scale(b));
}
