// attention.wgsl: out = softmax(q k^T * scale) v per head, no mask, or a causal one
// (query i sees keys j <= i) when CAUSAL. q, k, v, out are (L, H*hd), heads side by side.
// One workgroup per (query, head): scores for all keys go to workgroup memory, sized by
// the MAXL override (the model's SeqLen), then max, exp, sum and the weighted sum of v.
// Dispatch (L, H).

override MAXL: u32 = 128u;
override CAUSAL: bool = false;

struct Params { L: u32, H: u32, hd: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG = 64u;
var<workgroup> s: array<f32, MAXL>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let i = wg.x;
  let D = p.H * p.hd;
  let qo = i * D + wg.y * p.hd;
  var n = p.L;
  if (CAUSAL) {
    n = i + 1u;
  }
  // Scores, and this invocation's share of the row maximum.
  var mx = bitcast<f32>(0xff7fffffu); // -FLT_MAX
  for (var j = t; j < n; j += WG) {
    let ko = j * D + wg.y * p.hd;
    var dot = 0.0;
    for (var d = 0u; d < p.hd; d++) {
      dot += q[qo + d] * k[ko + d];
    }
    let sc = p.scale * dot;
    s[j] = sc;
    mx = max(mx, sc);
  }
  red[t] = mx;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (t < st) {
      red[t] = max(red[t], red[t + st]);
    }
    workgroupBarrier();
  }
  let m = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = t; j < n; j += WG) {
    let e = exp(s[j] - m);
    s[j] = e;
    sum += e;
  }
  red[t] = sum;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (t < st) {
      red[t] += red[t + st];
    }
    workgroupBarrier();
  }
  let inv = 1.0 / red[0];
  // Probabilities, as the CPU path keeps them, before the weighted sum.
  for (var j = t; j < n; j += WG) {
    s[j] = s[j] * inv;
  }
  workgroupBarrier();
  for (var d = t; d < p.hd; d += WG) {
    var acc = 0.0;
    for (var j = 0u; j < n; j++) {
      acc += s[j] * v[j * D + wg.y * p.hd + d];
    }
    out[qo + d] = acc;
  }
}
