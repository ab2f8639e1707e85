// bias.wgsl: x[i] = act(x[i] + b[i % n]) in place over count values: b is a bias row of
// n values added to every row of x (n = the row width), or an array of x's own shape
// (n = count: the denoiser's time conditioning joining the residual stream at every
// block). act is SiLU, v / (1 + exp(-v)), when the override SILU is 1, else the identity.
// Dispatch a 2-D grid of 256-wide workgroups covering count.

override SILU: u32 = 0u;

struct Params { count: u32, n: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.count) {
    return;
  }
  var v = x[i] + b[i % p.n];
  if (SILU == 1u) {
    v = v / (1.0 + exp(-v));
  }
  x[i] = v;
}
