// embed.wgsl: out(L, D) = table[ids] (embedding gather). The table is (V, D) in the
// checkpoint's dtype, chosen by the DTYPE override: 0 f32 (bit patterns in u32 words),
// 1 Q8_0, 2 Q4_0 (quant.wgsl is prepended; D must then be a multiple of 32).
// One invocation per output element; dispatch (ceil(D/64), L).

override DTYPE: u32 = 0u;

struct Params { L: u32, D: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let l = gid.y;
  if (c >= p.D || l >= p.L) {
    return;
  }
  let e = ids[l] * p.D + c; // element index in the flattened table
  var v: f32;
  switch DTYPE {
    case 1u: {
      let b = e / 32u;
      v = q8_0_value(b, e % 32u, q8_0_scale(b));
    }
    case 2u: {
      let b = e / 32u;
      v = q4_0_value(b, e % 32u, q4_0_scale(b));
    }
    default: {
      v = bitcast<f32>(w[e]);
    }
  }
  out[l * p.D + c] = v;
}
