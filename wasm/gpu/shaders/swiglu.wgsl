// swiglu.wgsl: gate = silu(gate) * up in place, elementwise over n values, with
// silu(g) = g / (1 + exp(-g)). Dispatch a 2-D grid of 256-wide workgroups covering n.

struct Params { n: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) {
    return;
  }
  let g = gate[i];
  gate[i] = g / (1.0 + exp(-g)) * up[i];
}
