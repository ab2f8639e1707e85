package gpu

import (
	"math"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/quant"
)

func tinyConfig() model.Config {
	return model.Config{Vocab: 40, Dim: 32, Layers: 1, Heads: 2, Hidden: 64, SeqLen: 8, RopeTheta: 10000, NormEps: 1e-5}
}

func tinyTensors(cfg model.Config) []Tensor {
	var ts []Tensor
	for _, s := range cfg.Specs() {
		ts = append(ts, F32Tensor(s.Name, s.Shape, make([]float32, s.Size())))
	}
	return ts
}

func TestCheckTensors(t *testing.T) {
	cfg := tinyConfig()
	if _, err := checkTensors(cfg, tinyTensors(cfg)); err != nil {
		t.Fatalf("valid tensors: %v", err)
	}
	q8 := func(ts []Tensor, i int) {
		n := len(ts[i].Data) / 4
		ts[i].DType, ts[i].Data = Q8_0, make([]byte, n/quant.QK*quant.BlockSizeQ8_0)
	}
	for _, c := range []struct {
		name, want string
		edit       func([]Tensor) []Tensor
	}{
		{"missing", `"head" missing`, func(ts []Tensor) []Tensor { return ts[:len(ts)-1] }},
		{"duplicate", `"norm" given twice`, func(ts []Tensor) []Tensor { return append(ts, ts[len(ts)-2]) }},
		{"extra", `unexpected tensor "bias"`, func(ts []Tensor) []Tensor { return append(ts, F32Tensor("bias", []int{1}, []float32{0})) }},
		{"shape", `"tok_emb" has shape [32 40]`, func(ts []Tensor) []Tensor { ts[0].Shape = []int{32, 40}; return ts }},
		{"bytes", `"head" (f32 [40 32]) has 5116 bytes, want 5120`, func(ts []Tensor) []Tensor {
			ts[len(ts)-1].Data = ts[len(ts)-1].Data[:5116]
			return ts
		}},
		{"dtype", `unknown dtype "bf16"`, func(ts []Tensor) []Tensor { ts[1].DType = "bf16"; return ts }},
		{"q8 bytes", `has 100 bytes`, func(ts []Tensor) []Tensor { q8(ts, 2); ts[2].Data = ts[2].Data[:100]; return ts }},
	} {
		ts := c.edit(tinyTensors(cfg))
		_, err := checkTensors(cfg, ts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	bad := cfg
	bad.Heads = 3
	if _, err := checkTensors(bad, tinyTensors(cfg)); err == nil {
		t.Error("invalid config accepted")
	}
	// Quantised rows must be whole blocks; f32 rows whole vec4s.
	odd := model.Config{Vocab: 40, Dim: 48, Layers: 1, Heads: 2, Hidden: 36, SeqLen: 8, RopeTheta: 10000, NormEps: 1e-5}
	ts := tinyTensors(odd)
	for i, tn := range ts {
		if tn.Name == "layers.0.w2" { // (48, 36): 1728 values, a whole number of blocks
			ts[i].DType, ts[i].Data = Q8_0, make([]byte, 1728/quant.QK*quant.BlockSizeQ8_0)
		}
	}
	if _, err := checkTensors(odd, ts); err == nil || !strings.Contains(err.Error(), "not a multiple of 32") {
		t.Errorf("q8_0 rows of 36: error %v", err)
	}
}

func TestToF32(t *testing.T) {
	v := []float32{1, -2.5, 0.1, 3e-6, -0, 65504}
	if got := toF32(F32Tensor("x", []int{len(v)}, v)); !equalBits(got, v) {
		t.Errorf("f32 round trip: %v", got)
	}
	h := make([]byte, 2*len(v))
	quant.EncodeF16(h, v)
	want := make([]float32, len(v))
	quant.DecodeF16(want, h)
	if got := toF32(Tensor{Shape: []int{len(v)}, DType: F16, Data: h}); !equalBits(got, want) {
		t.Errorf("f16: %v, want %v", got, want)
	}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestPadded(t *testing.T) {
	for n := 0; n < 9; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i + 1)
		}
		p := padded(b)
		if len(p)%4 != 0 || len(p) < n+4 || len(p) > n+7 {
			t.Errorf("padded(%d bytes) has %d bytes", n, len(p))
		}
		for i := range p {
			if (i < n && p[i] != byte(i+1)) || (i >= n && p[i] != 0) {
				t.Errorf("padded(%d bytes)[%d] = %d", n, i, p[i])
			}
		}
	}
}

func TestShaderSources(t *testing.T) {
	for _, name := range []string{"quant", "embed", "matmul", "matmul_f32", "matmul_q8_0", "matmul_q4_0",
		"rmsnorm", "rope", "attention", "swiglu", "argmax_conf"} {
		if src := shaderSource(name); !strings.Contains(src, "fn ") {
			t.Errorf("shader %s has no function", name)
		}
	}
}
