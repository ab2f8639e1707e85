// rope.wgsl: rotary position embedding on q and k in place, HF rotate_half pairing:
// element i of a head rotates with element i + hd/2. q, k are (L, H*hd); the table cs is
// (SeqLen, hd/2) of (cos, sin), computed once on the CPU in float64 (the GPU's cos/sin are
// only accurate near zero, and angles reach SeqLen radians).
// One invocation per (position, head, pair); dispatch (ceil(H*hd/2 / 64), L).

struct Params { L: u32, H: u32, hd: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read_write> k: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = p.hd / 2u;
  let l = gid.y;
  if (gid.x >= p.H * half || l >= p.L) {
    return;
  }
  let h = gid.x / half;
  let i = gid.x % half;
  let t = cs[l * half + i];
  let o = l * p.H * p.hd + h * p.hd + i;
  let qa = q[o];
  let qb = q[o + half];
  q[o] = qa * t.x - qb * t.y;
  q[o + half] = qb * t.x + qa * t.y;
  let ka = k[o];
  let kb = k[o + half];
  k[o] = ka * t.x - kb * t.y;
  k[o + half] = kb * t.x + ka * t.y;
}
