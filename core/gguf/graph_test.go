package gguf

import (
	"math"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/model"
)

// lladaForward is llama.cpp's llada graph (src/models/llada.cpp) written out in
// float64 from the GGUF file alone, with ggml's conventions: a tensor of dims
// {in, out} is out rows of in values, and LLAMA_ROPE_TYPE_NORM rotates adjacent
// pairs (2j, 2j+1) by pos·base^(-2j/n_rot). It returns the logits row of every
// position's own hidden state (the graph does not shift; the sampler does).
// F32 tensors only.
func lladaForward(t *testing.T, g *File, ids []int32) [][]float64 {
	u32 := func(k string) int { return int(g.Get(k).(uint32)) }
	D, F, H, nL := u32("llada.embedding_length"), u32("llada.feed_forward_length"), u32("llada.attention.head_count"), u32("llada.block_count")
	eps := float64(g.Get("llada.attention.layer_norm_rms_epsilon").(float32))
	base := float64(g.Get("llada.rope.freq_base").(float32))
	hd, L := D/H, len(ids)
	w := map[string][]float32{}
	for _, tt := range g.Tensors {
		if tt.Type != F32 {
			t.Fatalf("%s is %s; this reference reads F32", tt.Name, tt.Type)
		}
		w[tt.Name] = f32s(tt.Data)
	}
	matvec := func(name string, x []float64, out int) []float64 {
		m, in := w[name], len(x)
		y := make([]float64, out)
		for o := range y {
			for i, v := range x {
				y[o] += float64(m[o*in+i]) * v
			}
		}
		return y
	}
	norm := func(x []float64, gain string) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		r := 1 / math.Sqrt(ss/float64(len(x))+eps)
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = v * r * float64(w[gain][i])
		}
		return y
	}
	rope := func(x []float64, pos int) {
		for h := 0; h < H; h++ {
			for j := 0; j < hd/2; j++ {
				th := float64(pos) * math.Pow(base, -2*float64(j)/float64(hd))
				a, b := x[h*hd+2*j], x[h*hd+2*j+1]
				x[h*hd+2*j], x[h*hd+2*j+1] = a*math.Cos(th)-b*math.Sin(th), a*math.Sin(th)+b*math.Cos(th)
			}
		}
	}
	x := make([][]float64, L)
	for i, id := range ids {
		x[i] = make([]float64, D)
		for d := range D {
			x[i][d] = float64(w["token_embd.weight"][int(id)*D+d])
		}
	}
	for l := range nL {
		p := func(s string) string { return "blk." + string(rune('0'+l)) + "." + s + ".weight" }
		q, k, v := make([][]float64, L), make([][]float64, L), make([][]float64, L)
		for i := range L {
			h := norm(x[i], p("attn_norm"))
			q[i], k[i], v[i] = matvec(p("attn_q"), h, D), matvec(p("attn_k"), h, D), matvec(p("attn_v"), h, D)
			rope(q[i], i)
			rope(k[i], i)
		}
		for i := range L {
			att := make([]float64, D)
			for h := 0; h < H; h++ {
				s := make([]float64, L)
				mx := math.Inf(-1)
				for j := range L { // bidirectional: every position sees every other
					for d := h * hd; d < (h+1)*hd; d++ {
						s[j] += q[i][d] * k[j][d]
					}
					s[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, s[j])
				}
				var z float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					z += s[j]
				}
				for j := range L {
					for d := h * hd; d < (h+1)*hd; d++ {
						att[d] += s[j] / z * v[j][d]
					}
				}
			}
			o := matvec(p("attn_output"), att, D)
			for d := range D {
				x[i][d] += o[d]
			}
			h := norm(x[i], p("ffn_norm"))
			gate, up := matvec(p("ffn_gate"), h, F), matvec(p("ffn_up"), h, F)
			for j := range gate {
				gate[j] = gate[j] / (1 + math.Exp(-gate[j])) * up[j]
			}
			down := matvec(p("ffn_down"), gate, D)
			for d := range D {
				x[i][d] += down[d]
			}
		}
	}
	V := len(w["output.weight"]) / D
	out := make([][]float64, L)
	for i := range L {
		out[i] = matvec("output.weight", norm(x[i], "output_norm.weight"), V)
	}
	return out
}

// TestLLaDAGraph runs the exported file through lladaForward and compares with the
// Go model: with shift, our logits at i are the graph's row i-1 (row 0 its own), as
// llama-diffusion-cli reads them with diffusion.shift_logits. This is what makes the
// q/k row order, the dims order and the shift convention right for llama.cpp. The
// MASK column differs by design (FromCheckpoint's mean row).
func TestLLaDAGraph(t *testing.T) {
	for _, shift := range []bool{false, true} {
		f, cfg := tiny(t, shift)
		g, err := FromCheckpoint(f, "tiny")
		if err != nil {
			t.Fatal(err)
		}
		ids := []int32{5, 300, 4095, 17, 4094, 4095, 1000, 4095, 42, 7}
		ref := lladaForward(t, g, ids)
		m, err := model.FromFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Logits(ids)
		if err != nil {
			t.Fatal(err)
		}
		V := cfg.Vocab
		var worst float64
		for i := range ids {
			src := i
			if shift && i > 0 {
				src = i - 1
			}
			for v := 0; v < V-1; v++ {
				worst = math.Max(worst, math.Abs(float64(got[i*V+v])-ref[src][v]))
			}
		}
		if worst > 1e-4 {
			t.Errorf("shift %v: max |Go - llada graph| = %.3g over non-MASK logits", shift, worst)
		}
		t.Logf("shift %v: max |Go - llada graph| = %.3g", shift, worst)
	}
}
