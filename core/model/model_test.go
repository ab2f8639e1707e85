package model

import (
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/core/optim"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

func tiny(causal bool) Config {
	return Config{Vocab: 32, Dim: 16, Layers: 2, Heads: 2, Hidden: 24, SeqLen: 8, Causal: causal, RopeTheta: 10000, NormEps: 1e-5}
}

func randIDs(rng *rand.Rand, n, V int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(V))
	}
	return ids
}

// lossAndGrad runs forward, cross-entropy against targets (mean over tokens) and backward.
func lossAndGrad(m *Model, ids, targets []int32, B int) float64 {
	N, V := len(ids), m.Cfg.Vocab
	logits := m.Forward(ids, B)
	d := make([]float32, N*V)
	loss := nn.CrossEntropy(d, logits, targets, N, V, 1/float32(N))
	m.ZeroGrad()
	m.Backward(d)
	return loss
}

// TestModelGrad checks the gradient of the whole network, every tensor, against finite
// differences, for the bidirectional, the causal and the shifted network.
func TestModelGrad(t *testing.T) {
	for _, v := range []struct{ causal, shift bool }{{false, false}, {true, false}, {false, true}} {
		cfg := tiny(v.causal)
		cfg.Shift = v.shift
		m, err := New(cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		// Larger weights than the init make every path matter in the difference.
		rng := rand.New(rand.NewPCG(4, 4))
		for i := range m.Params {
			m.Params[i] += float32(rng.NormFloat64() * 0.3)
		}
		B, L := 2, 6
		ids, targets := randIDs(rng, B*L, cfg.Vocab), randIDs(rng, B*L, cfg.Vocab)
		lossAndGrad(m, ids, targets, B)
		grads := append([]float32(nil), m.Grads...)
		loss := func() float64 {
			return nn.CrossEntropy(nil, m.Forward(ids, B), targets, B*L, cfg.Vocab, 1/float32(B*L))
		}
		checkModel(t, m, grads, loss)
	}
}

// TestForwardRows checks the head run on some rows only: the same logits as Forward's
// at those rows, and the whole network's gradient of a loss on them against finite
// differences (plain and shifted, a row listed twice included).
func TestForwardRows(t *testing.T) {
	for _, shift := range []bool{false, true} {
		cfg := tiny(false)
		cfg.Shift = shift
		m, _ := New(cfg, 3)
		rng := rand.New(rand.NewPCG(5, 5))
		for i := range m.Params {
			m.Params[i] += float32(rng.NormFloat64() * 0.3)
		}
		B, L, V := 2, 6, cfg.Vocab
		ids := randIDs(rng, B*L, V)
		rows := []int32{0, 3, 4, 4, 7, 11}
		targets := randIDs(rng, len(rows), V)
		full := append([]float32(nil), m.Forward(ids, B)...)
		got := m.ForwardRows(ids, B, rows)
		for i, r := range rows {
			for j := 0; j < V; j++ {
				if a, b := got[i*V+j], full[int(r)*V+j]; math.Abs(float64(a-b)) > 1e-5 {
					t.Fatalf("shift %v: row %d column %d: %g, Forward gave %g", shift, r, j, a, b)
				}
			}
		}
		loss := func() float64 {
			return nn.CrossEntropy(nil, m.ForwardRows(ids, B, rows), targets, len(rows), V, 0.5)
		}
		d := make([]float32, len(rows)*V)
		nn.CrossEntropy(d, m.ForwardRows(ids, B, rows), targets, len(rows), V, 0.5)
		m.ZeroGrad()
		m.Backward(d)
		checkModel(t, m, append([]float32(nil), m.Grads...), loss)
		if len(m.ForwardRows(ids, B, nil)) != 0 {
			t.Fatal("no rows gave logits")
		}
	}
}

// checkModel checks every tensor's slice of the gradient arena grads.
func checkModel(t *testing.T, m *Model, grads []float32, loss func() float64) {
	t.Helper()
	off := 0
	for _, s := range m.Cfg.Specs() {
		n := s.Size()
		checkTensor(t, s.Name, m.Params[off:off+n], grads[off:off+n], loss)
		off += n
	}
}

func checkTensor(t *testing.T, name string, x, g []float32, loss func() float64) {
	t.Helper()
	checkStep(t, name, x, g, loss, 5e-3, 3e-2)
}

// checkStep compares 6 random elements of g with central differences of loss of step h,
// to a relative error tol (with a floor for gradients near zero).
func checkStep(t *testing.T, name string, x, g []float32, loss func() float64, h, tol float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(9, uint64(len(x))))
	for c := 0; c < 6; c++ {
		i := rng.IntN(len(x))
		old := x[i]
		x[i] = old + float32(h)
		lp := loss()
		x[i] = old - float32(h)
		lm := loss()
		x[i] = old
		num := (lp - lm) / (2 * h)
		an := float64(g[i])
		if err := math.Abs(num-an) / math.Max(2e-3, math.Abs(num)+math.Abs(an)); err > tol {
			t.Fatalf("%s[%d]: analytic %.6g numeric %.6g (rel err %.3g)", name, i, an, num, err)
		}
	}
}

func TestEmbedGradOnlyUsedRows(t *testing.T) {
	m, _ := New(tiny(false), 1)
	lossAndGrad(m, []int32{1, 2, 3, 4}, []int32{0, 0, 0, 0}, 1)
	D := m.Cfg.Dim
	for _, id := range []int{0, 5, 31} {
		for _, g := range m.G.TokEmb[id*D : id*D+D] {
			if g != 0 {
				t.Fatalf("unused token %d has an embedding gradient", id)
			}
		}
	}
}

func TestBidirectionalSeesFuture(t *testing.T) {
	for _, causal := range []bool{false, true} {
		m, _ := New(tiny(causal), 2)
		a, _ := m.Logits([]int32{1, 2, 3, 4})
		b, _ := m.Logits([]int32{1, 2, 3, 9})
		V := m.Cfg.Vocab
		same := true
		for j := 0; j < V; j++ {
			same = same && a[j] == b[j]
		}
		if same == !causal {
			t.Fatalf("causal=%v: first position's logits unchanged=%v after editing the last token", causal, same)
		}
	}
}

// TestShift checks the shifted head against the same weights without it: position i's
// logits are the plain network's at i-1 (position 0 its own), and a causal model refuses it.
func TestShift(t *testing.T) {
	plain, _ := New(tiny(false), 4)
	cfg := tiny(false)
	cfg.Shift = true
	shifted, err := Empty(cfg)
	if err != nil {
		t.Fatal(err)
	}
	copy(shifted.Params, plain.Params)
	ids := []int32{5, 1, 7, 2, 9}
	want, _ := plain.Logits(ids)
	want = append([]float32(nil), want...)
	got, _ := shifted.Logits(ids)
	V := cfg.Vocab
	for i := range ids {
		src := max(i-1, 0)
		// Not bit for bit: BLAS may sum a row of the head's product in another order
		// depending on where the row sits in the block.
		for j := 0; j < V; j++ {
			if d := math.Abs(float64(got[i*V+j] - want[src*V+j])); d > 1e-5 {
				t.Fatalf("position %d, logit %d: %g, the plain network's at position %d is %g", i, j, got[i*V+j], src, want[src*V+j])
			}
		}
	}
	cfg.Causal = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "shift") {
		t.Fatalf("shift with causal: err = %v, want a refusal naming shift", err)
	}
}

func TestLogitsRejectsBadInput(t *testing.T) {
	m, _ := New(tiny(false), 1)
	if _, err := m.Logits(make([]int32, 9)); err == nil {
		t.Fatal("over-long sequence accepted")
	}
	if _, err := m.Logits([]int32{32}); err == nil {
		t.Fatal("token outside vocabulary accepted")
	}
	if _, err := New(Config{Vocab: 10, Dim: 6, Layers: 1, Heads: 4, Hidden: 4, SeqLen: 4, RopeTheta: 1, NormEps: 1}, 1); err == nil {
		t.Fatal("dim not divisible by heads accepted")
	}
}

// golden is the saved state of a fixed-seed run: logits, loss and gradient checksums of
// the first step, then the first 10 training losses under AdamW.
type golden struct {
	LogitSum, LogitAbs float64
	Loss               float64
	GradSum, GradAbs   map[string]float64
	Losses             []float64
}

func runGolden(t *testing.T) golden {
	cfg := tiny(false)
	m, err := New(cfg, 42)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 42))
	B, L := 3, 8
	ids, targets := randIDs(rng, B*L, cfg.Vocab), randIDs(rng, B*L, cfg.Vocab)
	var g golden
	logits := m.Forward(ids, B)
	for _, v := range logits {
		g.LogitSum += float64(v)
		g.LogitAbs += math.Abs(float64(v))
	}
	g.Loss = lossAndGrad(m, ids, targets, B)
	g.GradSum, g.GradAbs = map[string]float64{}, map[string]float64{}
	for name, v := range m.G.ByName {
		for _, x := range v {
			g.GradSum[name] += float64(x)
			g.GradAbs[name] += math.Abs(float64(x))
		}
	}
	opt := optim.NewAdamW(len(m.Params), []optim.Range{{Lo: 0, Hi: len(m.Params), Decay: true}}, 0.1)
	for i := 0; i < 10; i++ {
		g.Losses = append(g.Losses, lossAndGrad(m, ids, targets, B))
		optim.ClipGradNorm(m.Grads, 1)
		opt.Update(m.Params, m.Grads, 1e-2)
	}
	return g
}

func TestGolden(t *testing.T) {
	got := runGolden(t)
	if *update {
		b, _ := json.MarshalIndent(got, "", " ")
		if err := os.WriteFile("testdata/golden.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var want golden
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	// BLAS backends sum in different orders, so compare with a float32-level tolerance.
	near := func(what string, a, b, scale float64) {
		if math.Abs(a-b) > 1e-4*math.Max(1, scale) {
			t.Errorf("%s = %.9g, golden %.9g", what, a, b)
		}
	}
	near("logit sum", got.LogitSum, want.LogitSum, want.LogitAbs)
	near("logit abs", got.LogitAbs, want.LogitAbs, want.LogitAbs)
	near("loss", got.Loss, want.Loss, 1)
	for name, w := range want.GradAbs {
		near("grad abs "+name, got.GradAbs[name], w, w)
		near("grad sum "+name, got.GradSum[name], want.GradSum[name], w)
	}
	if len(got.Losses) != len(want.Losses) {
		t.Fatal("loss count differs")
	}
	for i := range want.Losses {
		near("training loss", got.Losses[i], want.Losses[i], 1)
	}
	if !(got.Losses[9] < got.Losses[0]) {
		t.Fatalf("training does not reduce the loss: %v", got.Losses)
	}
}

// TestDropout checks residual dropout: the gradient of the dropped network (the same masks
// in every pass) against finite differences; that P 0 is the plain network; and that the
// masks drop about P of the outputs and scale the rest by 1/(1-P).
func TestDropout(t *testing.T) {
	cfg := tiny(false)
	m, _ := New(cfg, 3)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range m.Params {
		m.Params[i] += float32(rng.NormFloat64() * 0.3)
	}
	B, L := 2, 6
	ids, targets := randIDs(rng, B*L, cfg.Vocab), randIDs(rng, B*L, cfg.Vocab)
	plain := append([]float32(nil), m.Forward(ids, B)...)

	const p = 0.3
	fresh := func() { m.Drop = Dropout{P: p, Rng: rand.New(rand.NewPCG(7, 7))} }
	fresh()
	lossAndGrad(m, ids, targets, B)
	grads := append([]float32(nil), m.Grads...)
	loss := func() float64 {
		fresh()
		return nn.CrossEntropy(nil, m.Forward(ids, B), targets, B*L, cfg.Vocab, 1/float32(B*L))
	}
	checkModel(t, m, grads, loss)
	dropped := append([]float32(nil), m.Forward(ids, B)...)
	zeros, n := 0, 0
	for _, la := range m.act.layers {
		for _, mask := range [][]float32{la.drop1, la.drop2} {
			for _, v := range mask {
				switch v {
				case 0:
					zeros++
				case 1 / (1 - float32(p)):
				default:
					t.Fatalf("mask value %g: want 0 or %g", v, 1/(1-p))
				}
				n++
			}
		}
	}
	if n == 0 || math.Abs(float64(zeros)/float64(n)-p) > 0.05 {
		t.Fatalf("dropped %d of %d outputs, want about %.0f%%", zeros, n, 100*p)
	}

	m.Drop = Dropout{}
	again := m.Forward(ids, B)
	differ := false
	for i := range plain {
		if again[i] != plain[i] {
			t.Fatalf("logit %d: %g after dropout was turned off, %g before it was used", i, again[i], plain[i])
		}
		differ = differ || dropped[i] != plain[i]
	}
	if !differ {
		t.Fatal("dropout 0.3 left every logit unchanged")
	}
}

// Specs is the one tensor schema: every tensor has its three names, each name once, and
// IsParam knows exactly the names Specs gives.
func TestSpecsSchema(t *testing.T) {
	cfg := Demo()
	seen := map[string]bool{}
	for _, s := range cfg.Specs() {
		for _, n := range []string{s.Name, s.HF, s.GGUF} {
			if n == "" || seen[n] {
				t.Fatalf("spec %+v: empty or repeated name %q", s, n)
			}
			seen[n] = true
		}
		if !IsParam(s.Name) {
			t.Errorf("IsParam(%q) = false", s.Name)
		}
	}
	if n := len(cfg.Specs()); n != 3+9*cfg.Layers {
		t.Fatalf("%d specs for %d layers", n, cfg.Layers)
	}
	for _, s := range []string{"adam.m", "layers.0.wx", "layers.x.wq", "layers.-1.wq", "layers.01.wq", "tok_emb.x", "step", ""} {
		if IsParam(s) {
			t.Errorf("IsParam(%q) = true", s)
		}
	}
	// Spot checks of the outside names (Hugging Face LLaMA, llama.cpp).
	byName := map[string]Spec{}
	for _, s := range cfg.Specs() {
		byName[s.Name] = s
	}
	if s := byName["layers.5.w3"]; s.HF != "model.layers.5.mlp.up_proj.weight" || s.GGUF != "blk.5.ffn_up.weight" {
		t.Errorf("layers.5.w3: %+v", s)
	}
	if s := byName["head"]; s.HF != "lm_head.weight" || s.GGUF != "output.weight" {
		t.Errorf("head: %+v", s)
	}
}

// TestRowLogits: the sampler's entry to ForwardRows gives Logits's rows (plain and
// shifted) and refuses rows out of order or outside the sequence, and bad tokens.
func TestRowLogits(t *testing.T) {
	for _, shift := range []bool{false, true} {
		cfg := tiny(false)
		cfg.Shift = shift
		m, _ := New(cfg, 4)
		ids := randIDs(rand.New(rand.NewPCG(6, 6)), 7, cfg.Vocab)
		full, err := m.Logits(ids)
		if err != nil {
			t.Fatal(err)
		}
		rows := []int32{0, 2, 6}
		got, err := m.RowLogits(ids, rows)
		if err != nil {
			t.Fatal(err)
		}
		V := cfg.Vocab
		for i, r := range rows {
			for j := range V {
				if a, b := got[i*V+j], full[int(r)*V+j]; math.Abs(float64(a-b)) > 1e-5 {
					t.Fatalf("shift %v: row %d column %d: %g, Logits gave %g", shift, r, j, a, b)
				}
			}
		}
		for _, bad := range [][]int32{{2, 1}, {3, 3}, {-1}, {7}} {
			if _, err := m.RowLogits(ids, bad); err == nil {
				t.Errorf("rows %v accepted", bad)
			}
		}
		if _, err := m.RowLogits([]int32{int32(V)}, []int32{0}); err == nil {
			t.Error("a token outside the vocabulary accepted")
		}
	}
}
