// matmul_f32.wgsl: W as f32, for matmul.wgsl.

@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;

fn mm_loop(n0: u32, n1: u32, n2: u32, n3: u32) {
  let K4 = p.K / 4u;
  let r0 = n0 * K4;
  let r1 = n1 * K4;
  let r2 = n2 * K4;
  let r3 = n3 * K4;
  for (var k4 = 0u; k4 < K4; k4++) {
    accumulate(k4, w[r0 + k4], w[r1 + k4], w[r2 + k4], w[r3 + k4]);
  }
}
