package sample

import "testing"

// fixed returns the same precomputed logits every call, so the benchmark measures the
// sampler's own work (copy, SUBS, Gumbel draws, confidences) at the project's sizes.
type fixed struct {
	v   int
	out []float32
}

func (f *fixed) Vocab() int { return f.v }

func (f *fixed) Logits(ids []int32) ([]float32, error) { return f.out[:len(ids)*f.v], nil }

// batchFixed answers a batch of B sequences with B copies of fixed's logits, made once.
type batchFixed struct {
	*fixed
	batch []float32
}

func (f *batchFixed) BatchLogits(ids []int32, B int) ([]float32, error) {
	for len(f.batch) < len(ids)*f.v {
		f.batch = append(f.batch, f.out...)
	}
	return f.batch[:len(ids)*f.v], nil
}

// newFixed fills a fixed Denoiser's logits with a hash of the index and salt.
func newFixed(v, L, salt int) *fixed {
	f := &fixed{v: v, out: make([]float32, L*v)}
	for i := range f.out {
		f.out[i] = float32(((i+salt)*2654435761)%1000) / 100
	}
	return f
}

func benchSample(b *testing.B, o Options) {
	const v, p, n = 4096, 32, 96
	f := newFixed(v, p+n, 0)
	prompt := make([]int32, p)
	o.GenLength = n
	for b.Loop() {
		if _, err := Sample(f, prompt, o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSampleGreedy64(b *testing.B) { benchSample(b, Options{Steps: 64}) }
func BenchmarkSampleT1Steps64(b *testing.B) {
	benchSample(b, Options{Steps: 64, Temperature: 1})
}
func BenchmarkSampleRandomT1Steps64(b *testing.B) {
	benchSample(b, Options{Steps: 64, Temperature: 1, Strategy: "random"})
}

// The speculative sampler's own work (drafting, and checking every drafted token against
// the target's distribution) with a draft that disagrees with the target, K = 4.
func BenchmarkSpeculativeRandomT1Steps64(b *testing.B) {
	const v, p, n = 4096, 32, 96
	target, draft := &batchFixed{fixed: newFixed(v, p+n, 0)}, newFixed(v, p+n, 7)
	ids := make([]int32, p+n)
	for i := p; i < len(ids); i++ {
		ids[i] = v - 1
	}
	o := Options{Steps: 64, Temperature: 1, Strategy: "random"}
	for b.Loop() {
		if _, err := Speculative(target, ids, o, SpecOptions{Draft: draft, K: 4}); err != nil {
			b.Fatal(err)
		}
	}
}
