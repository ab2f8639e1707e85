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

func benchSample(b *testing.B, o Options) {
	const v, p, n = 4096, 32, 96
	f := &fixed{v: v, out: make([]float32, (p+n)*v)}
	for i := range f.out {
		f.out[i] = float32((i*2654435761)%1000) / 100
	}
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
