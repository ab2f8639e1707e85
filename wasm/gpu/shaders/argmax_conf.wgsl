// argmax_conf.wgsl: per row of logits (L, V), the most likely token other than `exclude`
// (the MASK id, whose logit the sampler treats as -inf), its softmax probability and the
// distribution's entropy in nats, both over the V-1 other tokens. This is what greedy
// low-confidence sampling needs, so the (L, V) logits need not leave the GPU.
// out is (L, 4) words: token, bitcast prob, bitcast entropy, bitcast max logit.
// Ties go to the smaller token id. One invocation per row, two passes over it (no
// barriers: SwiftShader runs those very slowly); dispatch (ceil(L/64)).

struct Params { L: u32, V: u32, exclude: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= p.L) {
    return;
  }
  let row = r * p.V;
  var best = bitcast<f32>(0xff7fffffu); // -FLT_MAX
  var tok = 0xffffffffu;
  for (var j = 0u; j < p.V; j++) {
    let x = logits[row + j];
    if (j != p.exclude && (x > best || tok == 0xffffffffu)) {
      best = x;
      tok = j;
    }
  }
  // S = sum e^(x-m) and T = sum e^(x-m) (x-m): p_j = e_j / S, entropy = log S - T / S.
  var S = 0.0;
  var T = 0.0;
  for (var j = 0u; j < p.V; j++) {
    if (j != p.exclude) {
      let z = logits[row + j] - best;
      let e = exp(z);
      S += e;
      T += e * z;
    }
  }
  out[r * 4u] = tok;
  out[r * 4u + 1u] = bitcast<u32>(1.0 / S);
  out[r * 4u + 2u] = bitcast<u32>(log(S) - T / S);
  out[r * 4u + 3u] = bitcast<u32>(best);
}
