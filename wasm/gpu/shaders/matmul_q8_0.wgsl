// matmul_q8_0.wgsl: W as raw Q8_0 blocks (see quant.wgsl), for matmul.wgsl. Each row of
// W is K/32 whole blocks; the scales are decoded once per block.

@group(0) @binding(2) var<storage, read> w: array<u32>;

fn mm_loop(n0: u32, n1: u32, n2: u32, n3: u32) {
  let nb = p.K / 32u;
  for (var kb = 0u; kb < nb; kb++) {
    let b0 = n0 * nb + kb;
    let b1 = n1 * nb + kb;
    let b2 = n2 * nb + kb;
    let b3 = n3 * nb + kb;
    let d0 = q8_0_scale(b0);
    let d1 = q8_0_scale(b1);
    let d2 = q8_0_scale(b2);
    let d3 = q8_0_scale(b3);
    for (var i = 0u; i < 8u; i++) {
      accumulate(kb * 8u + i, q8_0_quad(b0, i, d0), q8_0_quad(b1, i, d1), q8_0_quad(b2, i, d2), q8_0_quad(b3, i, d3));
    }
  }
}
