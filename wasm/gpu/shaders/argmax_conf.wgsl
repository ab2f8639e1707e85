// argmax_conf.wgsl: per row of logits (L, V), the most likely token other than `exclude`
// (the MASK id, whose logit the sampler treats as -inf), its softmax probability and the
// distribution's entropy in nats, both over the V-1 other tokens. This is what greedy
// low-confidence sampling needs, so the (L, V) logits need not leave the GPU.
// out is (L, 4) words: token, bitcast prob, bitcast entropy, bitcast max logit.
// Ties go to the smaller token id. One workgroup per row; dispatch (L).

struct Params { L: u32, V: u32, exclude: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

const WG = 256u;
var<workgroup> rv: array<f32, WG>;
var<workgroup> ri: array<u32, WG>;
var<workgroup> rt: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wg.x * p.V;
  var best = bitcast<f32>(0xff7fffffu); // -FLT_MAX
  var bi = 0xffffffffu;
  for (var j = t; j < p.V; j += WG) {
    let x = logits[row + j];
    if (j != p.exclude && (x > best || bi == 0xffffffffu)) {
      best = x;
      bi = j;
    }
  }
  rv[t] = best;
  ri[t] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      let ov = rv[t + s];
      let oi = ri[t + s];
      if (oi != 0xffffffffu && (ri[t] == 0xffffffffu || ov > rv[t] || (ov == rv[t] && oi < ri[t]))) {
        rv[t] = ov;
        ri[t] = oi;
      }
    }
    workgroupBarrier();
  }
  let m = rv[0];
  let tok = ri[0];
  workgroupBarrier();
  // sum e^(x-m) and sum e^(x-m) (x-m): p_j = e_j / S, entropy = log S - (1/S) sum e_j (x_j-m).
  var se = 0.0;
  var st = 0.0;
  for (var j = t; j < p.V; j += WG) {
    if (j != p.exclude) {
      let z = logits[row + j] - m;
      let e = exp(z);
      se += e;
      st += e * z;
    }
  }
  rv[t] = se;
  rt[t] = st;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      rv[t] += rv[t + s];
      rt[t] += rt[t + s];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let S = rv[0];
    out[wg.x * 4u] = tok;
    out[wg.x * 4u + 1u] = bitcast<u32>(1.0 / S);
    out[wg.x * 4u + 2u] = bitcast<u32>(log(S) - rt[0] / S);
    out[wg.x * 4u + 3u] = bitcast<u32>(m);
  }
}
