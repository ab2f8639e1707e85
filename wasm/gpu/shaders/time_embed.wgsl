// time_embed.wgsl: the denoiser's sinusoidal time features (model.TimeFeatures): for row r
// of time t[r] and i < D/2, out[r, i] = sin(2 pi t f[i]) and out[r, D/2 + i] = cos(...),
// where f[i] = 1000 w_i / (2 pi) are the frequencies in turns per unit time
// (model.TimeFrequencies, rounded once from float64). The angle is reduced to one turn
// with fract before sin and cos, whose accuracy WGSL promises only near 0; reduced so, its
// error is that of t f[i] in float32, under 1e-4 rad for t f up to 160 turns.
// out is (L, D). Dispatch (ceil(D/2 / 64), L).

struct Params { L: u32, D: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read> f: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const TAU: f32 = 6.283185307179586;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let h = p.D / 2u;
  let i = gid.x;
  let r = gid.y;
  if (i >= h || r >= p.L) {
    return;
  }
  let a = TAU * fract(t[r] * f[i]);
  out[r * p.D + i] = sin(a);
  out[r * p.D + h + i] = cos(a);
}
