// gaussian_update.wgsl: one reverse step of continuous diffusion on the latents z (L, D)
// in place, z = c0 est + ct z + sd noise, with the rows that known marks (a prompt's
// positions) set to their clean latents instead (core/continuous: both solvers' steps
// take this form; the ODE's sd is 0). The noise is drawn on the CPU, so every backend
// uses the same numbers. With c0 = 1, ct = sd = 0 it writes est into z with the known
// rows held: the denoiser's output made the current estimate. Dispatch a 2-D grid of
// 256-wide workgroups covering L*D values.

struct Params { count: u32, D: u32, c0: f32, ct: f32, sd: f32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> z: array<f32>;
@group(0) @binding(2) var<storage, read> est: array<f32>;
@group(0) @binding(3) var<storage, read> noise: array<f32>;
@group(0) @binding(4) var<storage, read> clean: array<f32>;
@group(0) @binding(5) var<storage, read> known: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.count) {
    return;
  }
  if (known[i / p.D] != 0u) {
    z[i] = clean[i];
    return;
  }
  z[i] = p.c0 * est[i] + p.ct * z[i] + p.sd * noise[i];
}
