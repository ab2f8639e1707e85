// attention.wgsl: out = softmax(q k^T * scale) v per sequence and head, no mask, or a
// causal one (query i sees keys j <= i) when CAUSAL. q, k, v, out are (B*L, H*hd): B
// sequences of L rows, heads side by side, hd a multiple of 4; a query sees only the keys
// of its own sequence. s is scratch of (B, H, L, L) scores, then probabilities. Three entry
// points, dispatched in order, none with workgroup memory or barriers (SwiftShader runs
// those very slowly):
//   scores:   s[b, h, i, j] = scale * q_bi . k_bj   one invocation per (4 keys, query row,
//                                                    head); dispatch (ceil(L/256), B*L, H)
//   softmax:  s[b, h, i, :] = softmax(s[b, h, i, :]) one invocation per (sequence, head,
//                                                    query), masked entries set to 0;
//                                                    dispatch (ceil(B*H*L/64))
//   weighted: out_bi = sum_j s[b, h, i, j] v_bj      one invocation per (4 dims, query row,
//                                                    head); dispatch (ceil(hd/256), B*L, H)

override CAUSAL: bool = false;

struct Params { L: u32, H: u32, hd: u32, scale: f32, B: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> s: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;

// visible is the number of keys query i attends to.
fn visible(i: u32) -> u32 {
  if (CAUSAL) {
    return i + 1u;
  }
  return p.L;
}

// scoreRow is the offset of s[b, h, i, 0] for the query at row r = b*L + i.
fn scoreRow(r: u32, h: u32) -> u32 {
  let b = r / p.L;
  let i = r % p.L;
  return ((b * p.H + h) * p.L + i) * p.L;
}

@compute @workgroup_size(64)
fn scores(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j0 = gid.x * 4u;
  let r = gid.y;
  let h = gid.z;
  let n = visible(r % p.L);
  if (j0 >= n) {
    return;
  }
  let D4 = p.H * p.hd / 4u;
  let hd4 = p.hd / 4u;
  let qo = r * D4 + h * hd4;
  let first = r - r % p.L; // row of the sequence's key 0
  let last = n - 1u;
  let k0 = (first + min(j0, last)) * D4 + h * hd4;
  let k1 = (first + min(j0 + 1u, last)) * D4 + h * hd4;
  let k2 = (first + min(j0 + 2u, last)) * D4 + h * hd4;
  let k3 = (first + min(j0 + 3u, last)) * D4 + h * hd4;
  var acc = vec4<f32>();
  for (var c = 0u; c < hd4; c++) {
    let qv = q[qo + c];
    acc += vec4<f32>(dot(qv, k[k0 + c]), dot(qv, k[k1 + c]), dot(qv, k[k2 + c]), dot(qv, k[k3 + c]));
  }
  let row = scoreRow(r, h);
  for (var t = 0u; t < 4u; t++) {
    if (j0 + t < n) {
      s[row + j0 + t] = p.scale * acc[t];
    }
  }
}

@compute @workgroup_size(64)
fn softmax(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= p.B * p.H * p.L) {
    return;
  }
  let i = gid.x % p.L;
  let row = gid.x * p.L; // s row (b, h, i) with b*H + h = gid.x / L
  let n = visible(i);
  var m = s[row];
  for (var j = 1u; j < n; j++) {
    m = max(m, s[row + j]);
  }
  var sum = 0.0;
  for (var j = 0u; j < n; j++) {
    let e = exp(s[row + j] - m);
    s[row + j] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var j = 0u; j < n; j++) {
    s[row + j] *= inv;
  }
  for (var j = n; j < p.L; j++) {
    s[row + j] = 0.0;
  }
}

@compute @workgroup_size(64)
fn weighted(@builtin(global_invocation_id) gid: vec3<u32>) {
  let hd4 = p.hd / 4u;
  let c = gid.x;
  let r = gid.y;
  let h = gid.z;
  if (c >= hd4) {
    return;
  }
  let D4 = p.H * hd4;
  let row = scoreRow(r, h);
  let first = r - r % p.L;
  let n = visible(r % p.L);
  var acc = vec4<f32>();
  for (var j = 0u; j < n; j++) {
    acc += s[row + j] * v[(first + j) * D4 + h * hd4 + c];
  }
  out[r * D4 + h * hd4 + c] = acc;
}
