package gpu

import (
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/quant"
)

func tinyConfig() model.Config {
	return model.Config{Vocab: 40, Dim: 32, Layers: 1, Heads: 2, Hidden: 64, SeqLen: 8, RopeTheta: 10000, NormEps: 1e-5}
}

func tinyTensors(cfg model.Config) []checkpoint.Tensor {
	var ts []checkpoint.Tensor
	for _, s := range cfg.Specs() {
		ts = append(ts, checkpoint.Tensor{Name: s.Name, Shape: s.Shape, F32: make([]float32, s.Size())})
	}
	return ts
}

func TestCheckTensors(t *testing.T) {
	cfg := tinyConfig()
	if _, err := checkTensors(cfg, tinyTensors(cfg)); err != nil {
		t.Fatalf("valid tensors: %v", err)
	}
	toQ8 := func(tn *checkpoint.Tensor) {
		tn.DType, tn.Raw, tn.F32 = checkpoint.Q8_0, make([]byte, len(tn.F32)/quant.QK*quant.BlockSizeQ8_0), nil
	}
	last := func(ts []checkpoint.Tensor) *checkpoint.Tensor { return &ts[len(ts)-1] }
	for _, c := range []struct {
		name, want string
		edit       func([]checkpoint.Tensor) []checkpoint.Tensor
	}{
		{"missing", `"head" missing`, func(ts []checkpoint.Tensor) []checkpoint.Tensor { return ts[:len(ts)-1] }},
		{"duplicate", `"norm" given twice`, func(ts []checkpoint.Tensor) []checkpoint.Tensor { return append(ts, ts[len(ts)-2]) }},
		{"extra", `unexpected tensor "bias"`, func(ts []checkpoint.Tensor) []checkpoint.Tensor {
			return append(ts, checkpoint.Tensor{Name: "bias", Shape: []int{1}, F32: []float32{0}})
		}},
		{"shape", `"tok_emb" has shape [32 40]`, func(ts []checkpoint.Tensor) []checkpoint.Tensor { ts[0].Shape = []int{32, 40}; return ts }},
		{"f32 values", `"head" (f32 [40 32]) has 1279 values`, func(ts []checkpoint.Tensor) []checkpoint.Tensor {
			last(ts).F32 = last(ts).F32[:1279]
			return ts
		}},
		{"dtype", `unsupported dtype dtype(9)`, func(ts []checkpoint.Tensor) []checkpoint.Tensor { ts[1].DType = 9; return ts }},
		{"q8 bytes", `has 100 raw bytes`, func(ts []checkpoint.Tensor) []checkpoint.Tensor {
			toQ8(&ts[2])
			ts[2].Raw = ts[2].Raw[:100]
			return ts
		}},
		{"f16 bytes", `"norm" (f16 [32]) has 0 raw bytes`, func(ts []checkpoint.Tensor) []checkpoint.Tensor {
			ts[len(ts)-2].DType = checkpoint.F16
			return ts
		}},
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
	bad.Heads = 16 // head size 2
	if _, err := checkTensors(bad, tinyTensors(bad)); err == nil || !strings.Contains(err.Error(), "head size 2") {
		t.Errorf("head size 2: error %v", err)
	}
	// Quantised rows must be whole blocks.
	odd := model.Config{Vocab: 40, Dim: 48, Layers: 1, Heads: 2, Hidden: 36, SeqLen: 8, RopeTheta: 10000, NormEps: 1e-5}
	ts := tinyTensors(odd)
	for i := range ts {
		if ts[i].Name == "layers.0.w2" { // (48, 36): 1728 values, a whole number of blocks
			toQ8(&ts[i])
		}
	}
	if _, err := checkTensors(odd, ts); err == nil || !strings.Contains(err.Error(), "not a multiple of 32") {
		t.Errorf("q8_0 rows of 36: error %v", err)
	}
	// f32 rows must be whole vec4s.
	odd.Hidden = 34
	if _, err := checkTensors(odd, tinyTensors(odd)); err == nil || !strings.Contains(err.Error(), "not a multiple of 4") {
		t.Errorf("f32 rows of 34: error %v", err)
	}
}

func TestModelTensors(t *testing.T) {
	cfg := tinyConfig()
	f := &checkpoint.File{Tensors: append(tinyTensors(cfg), checkpoint.Tensor{Name: "adam.m.norm", Shape: []int{32}, F32: make([]float32, 32)})}
	ts, err := modelTensors(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkTensors(cfg, ts); err != nil {
		t.Errorf("tensors picked from a checkpoint: %v", err)
	}
	f.Tensors = f.Tensors[1:]
	if _, err := modelTensors(f, cfg); err == nil || !strings.Contains(err.Error(), "tok_emb") {
		t.Errorf("checkpoint without tok_emb: error %v", err)
	}
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

func TestGrid(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 65535 * 256, 65535*256 + 1, 1 << 30} {
		x, y := grid(n, 256)
		if x < 1 || x > 65535 || y < 1 || y > 65535 || x*y*256 < n || (n > 0 && (x*y-x)*256 >= n) {
			t.Errorf("grid(%d, 256) = (%d, %d)", n, x, y)
		}
	}
}
