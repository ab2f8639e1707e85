package model

import (
	"math/rand/v2"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/nn"
)

// BenchmarkTrainStep is one forward+backward of the demo model on a (16, 128) batch.
func BenchmarkTrainStep(b *testing.B) {
	cfg := Demo()
	m, _ := New(cfg, 1)
	B, L := 16, cfg.SeqLen
	rng := rand.New(rand.NewPCG(1, 1))
	ids, tg := randIDs(rng, B*L, cfg.Vocab), randIDs(rng, B*L, cfg.Vocab)
	d := make([]float32, B*L*cfg.Vocab)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		logits := m.Forward(ids, B)
		nn.CrossEntropy(d, logits, tg, B*L, cfg.Vocab, 1/float32(B*L))
		m.ZeroGrad()
		m.Backward(d)
	}
	tok := float64(B*L) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(tok, "tokens/s")
	b.ReportMetric(tok*cfg.FLOPsPerToken(L)/1e9, "GFLOP/s")
}
