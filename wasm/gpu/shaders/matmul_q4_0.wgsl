// matmul_q4_0.wgsl: W as raw Q4_0 blocks (see quant.wgsl), for matmul.wgsl. Each row of
// W is K/32 whole blocks; the scales are decoded once per block, and each word of
// nibbles is loaded once for the two groups of four elements it holds.

@group(0) @binding(2) var<storage, read> w: array<u32>;

fn mm_loop(n0: u32, n1: u32, n2: u32, n3: u32) {
  let nb = p.K / 32u;
  for (var kb = 0u; kb < nb; kb++) {
    let b0 = n0 * nb + kb;
    let b1 = n1 * nb + kb;
    let b2 = n2 * nb + kb;
    let b3 = n3 * nb + kb;
    let d0 = q4_0_scale(b0);
    let d1 = q4_0_scale(b1);
    let d2 = q4_0_scale(b2);
    let d3 = q4_0_scale(b3);
    for (var i = 0u; i < 4u; i++) {
      let u0 = q4_0_word(b0, i);
      let u1 = q4_0_word(b1, i);
      let u2 = q4_0_word(b2, i);
      let u3 = q4_0_word(b3, i);
      accumulate(kb * 8u + i, q4_0_unpack(u0, d0), q4_0_unpack(u1, d1), q4_0_unpack(u2, d2), q4_0_unpack(u3, d3));
      accumulate(kb * 8u + 4u + i, q4_0_unpack(u0 >> 4u, d0), q4_0_unpack(u1 >> 4u, d1), q4_0_unpack(u2 >> 4u, d2), q4_0_unpack(u3 >> 4u, d3));
    }
  }
}
