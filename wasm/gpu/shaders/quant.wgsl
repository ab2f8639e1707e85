// quant.wgsl: shared fragment, prepended to the shaders that read ggml quant blocks.
// The including shader declares `w: array<u32>`, the tensor's raw bytes as little-endian
// u32 words, exactly as the checkpoint stores them (no repacking on upload; the buffer is
// only padded to a multiple of 4 bytes). Blocks of 32 values:
//   Q8_0: 34 bytes = fp16 d | 32 x int8 q           x = f32(q) * d
//   Q4_0: 18 bytes = fp16 d | 16 bytes of nibbles    x = f32(q - 8) * d
//         byte j: element j in the low nibble, element j+16 in the high nibble.
// Blocks start at even byte offsets, so a block's fp16 scale never straddles two words.
// The value is one f32 product of two exact operands, the same single rounding as the Go
// reference (core/quant), so the dequantised weights agree bit for bit.

// w_byte returns byte o of w.
fn w_byte(o: u32) -> u32 {
  return (w[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu;
}

// w_half returns the 16-bit little-endian value at even byte offset o of w.
fn w_half(o: u32) -> u32 {
  return (w[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu;
}

// f16_to_f32 decodes binary16 bits exactly with integer operations, so the result does
// not depend on how an implementation treats half subnormals in unpack2x16float.
fn f16_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    // Zero or subnormal: m * 2^-24, exact in f32.
    return bitcast<f32>(sign | bitcast<u32>(f32(m) * 5.9604644775390625e-8));
  }
  if (e == 31u) {
    return bitcast<f32>(sign | 0x7f800000u | (m << 13u));
  }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// q8_0_scale and q4_0_scale return block b's scale d.
fn q8_0_scale(b: u32) -> f32 { return f16_to_f32(w_half(b * 34u)); }
fn q4_0_scale(b: u32) -> f32 { return f16_to_f32(w_half(b * 18u)); }

// q8_0_value returns element j (0..31) of block b, given the block's scale d.
fn q8_0_value(b: u32, j: u32, d: f32) -> f32 {
  let q = bitcast<i32>(w_byte(b * 34u + 2u + j) << 24u) >> 24u;
  return f32(q) * d;
}

// q4_0_value returns element j (0..31) of block b, given the block's scale d.
fn q4_0_value(b: u32, j: u32, d: f32) -> f32 {
  let byte = w_byte(b * 18u + 2u + (j & 15u));
  let q = (byte >> ((j >> 4u) * 4u)) & 0xfu;
  return f32(i32(q) - 8) * d;
}

// w_word returns the 4 bytes at even byte offset o of w as one little-endian word. Block
// data starts 2 bytes off word alignment in every other block; the buffer has a spare
// word at its end so that the second load never leaves it.
fn w_word(o: u32) -> u32 {
  let i = o >> 2u;
  let lo = w[i];
  let hi = w[i + 1u];
  return select(lo, (lo >> 16u) | (hi << 16u), (o & 2u) != 0u);
}

// q8_0_quad returns elements 4i..4i+3 of block b, given the block's scale d.
fn q8_0_quad(b: u32, i: u32, d: f32) -> vec4<f32> {
  let u = w_word(b * 34u + 2u + 4u * i);
  let q = vec4<i32>(bitcast<i32>(u << 24u), bitcast<i32>(u << 16u), bitcast<i32>(u << 8u), bitcast<i32>(u)) >> vec4<u32>(24u);
  return vec4<f32>(q) * d;
}

// q4_0_word returns bytes 4i..4i+3 (i in 0..3) of block b's nibbles: their low nibbles
// are elements 4i..4i+3, their high nibbles elements 16+4i..16+4i+3.
fn q4_0_word(b: u32, i: u32) -> u32 {
  return w_word(b * 18u + 2u + 4u * i);
}

// q4_0_unpack dequantises the low nibbles of u's four bytes with scale d (pass u >> 4
// for the high nibbles).
fn q4_0_unpack(u: u32, d: f32) -> vec4<f32> {
  let q = vec4<u32>(u, u >> 8u, u >> 16u, u >> 24u) & vec4<u32>(0xfu);
  return vec4<f32>(vec4<i32>(q) - vec4<i32>(8)) * d;
}
