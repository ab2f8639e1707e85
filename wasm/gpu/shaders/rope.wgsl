// rope.wgsl: rotary position embedding on q and k in place, HF rotate_half pairing:
// element i of a head rotates with element i + hd/2. q, k are (rows, H*hd): B sequences of
// L rows each, positions restarting at 0 in every sequence. The table cs is (SeqLen, hd/2)
// of (cos, sin), computed once on the CPU in float64 (the GPU's cos/sin are only accurate
// near zero, and angles reach SeqLen radians).
// One invocation per (row, head, pair); dispatch (ceil(H*hd/2 / 64), rows).

struct Params { rows: u32, L: u32, H: u32, hd: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read_write> k: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = p.hd / 2u;
  let r = gid.y;
  if (gid.x >= p.H * half || r >= p.rows) {
    return;
  }
  let h = gid.x / half;
  let i = gid.x % half;
  let t = cs[(r % p.L) * half + i];
  let o = r * p.H * p.hd + h * p.hd + i;
  let qa = q[o];
  let qb = q[o + half];
  q[o] = qa * t.x - qb * t.y;
  q[o + half] = qb * t.x + qa * t.y;
  let ka = k[o];
  let kb = k[o + half];
  k[o] = ka * t.x - kb * t.y;
  k[o + half] = kb * t.x + ka * t.y;
}
