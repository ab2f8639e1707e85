// concat_rows.wgsl: out (L, A+B) = [a row, b row] for a (L, A) and b (L, B): the
// self-conditioned denoiser's input, the noisy latents beside the previous estimate.
// Dispatch a 2-D grid of 256-wide workgroups covering L*(A+B) values.

struct Params { count: u32, A: u32, B: u32, _pad0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.count) {
    return;
  }
  let w = p.A + p.B;
  let r = i / w;
  let j = i % w;
  if (j < p.A) {
    out[i] = a[r * p.A + j];
  } else {
    out[i] = b[r * p.B + j - p.A];
  }
}
