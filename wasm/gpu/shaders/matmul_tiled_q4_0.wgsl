// matmul_tiled_q4_0.wgsl: W as raw Q4_0 blocks (see quant.wgsl), for matmul_tiled.wgsl.
// Elements 4i..4i+3 of a block are the low nibbles of its nibble word i (i < 4), and
// elements 16+4i.. the high nibbles of the same word.

@group(0) @binding(2) var<storage, read> w: array<u32>;

fn w_quad(n: u32, k4: u32) -> vec4<f32> {
  let b = n * (p.K / 32u) + k4 / 8u;
  let i = k4 % 8u;
  return q4_0_unpack(q4_0_word(b, i % 4u) >> (4u * (i / 4u)), q4_0_scale(b));
}
