// shift_rows.wgsl: dst = src moved one row later within each sequence of seq/d rows: dst
// row i = src row i-1 and a sequence's row 0 = its own src row 0. A masked model adapted
// from an autoregressive one (model.Config.Shift) reads its logits at position i from the
// hidden state at i-1, where the AR predicted token i. n = B*L*D values, d = D, seq = L*D.
// Dispatch a 2-D grid of 256-wide workgroups covering n values.

struct Params { n: u32, d: u32, seq: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) {
    return;
  }
  if (i % p.seq < p.d) {
    dst[i] = src[i];
  } else {
    dst[i] = src[i - p.d];
  }
}
