package sample

import (
	"math"
	"testing"
)

func TestDistinctN(t *testing.T) {
	samples := [][]int32{{1, 2, 1, 2}, {1, 2, 3}, {}}
	for _, c := range []struct {
		n    int
		want float64
	}{
		{1, 3.0 / 7}, // unigrams 1,2,1,2,1,2,3: three kinds
		{2, 3.0 / 5}, // bigrams 12,21,12,12,23: three kinds (none across samples)
		{3, 3.0 / 3}, // 121,212,123
		{4, 1.0 / 1}, // 1212
		{5, 0},       // none
	} {
		if got := DistinctN(samples, c.n); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("distinct-%d = %v, want %v", c.n, got, c.want)
		}
	}
	// Token ids that share bytes in other orders are still different n-grams.
	if got := DistinctN([][]int32{{256, 1}, {1, 256}, {65536, 1}}, 2); got != 1 {
		t.Errorf("distinct-2 of three different bigrams = %v", got)
	}
}

func TestNGramSetMemorised(t *testing.T) {
	train := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2, 3}
	s := NewNGramSet(train, 8)
	if s.N() != 8 || s.Len() != len(train)-8+1 {
		t.Fatalf("N %d Len %d", s.N(), s.Len())
	}
	if !s.Contains(train[3:11]) || s.Contains([]int32{1, 2, 3, 4, 5, 6, 7, 9}) {
		t.Fatal("Contains wrong")
	}
	gen := [][]int32{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, // 3 grams: starting at 0 (no), 1 (yes), 2 (yes)
		{5, 6, 7, 8, 9, 10, 11, 1},     // 1 gram: yes
		{1, 2, 3},                      // too short
		{9, 9, 9, 9, 9, 9, 9, 9},       // no
	}
	share, grams := s.Memorised(gen)
	if grams != 5 || share != 3.0/5 {
		t.Fatalf("memorised %v of %d grams, want 0.6 of 5", share, grams)
	}
	if share, grams := NewNGramSet(nil, 8).Memorised(gen); share != 0 || grams != 5 {
		t.Fatalf("empty set: %v of %d", share, grams)
	}
	if share, grams := s.Memorised(nil); share != 0 || grams != 0 {
		t.Fatalf("no samples: %v of %d", share, grams)
	}
}

func TestPerplexity(t *testing.T) {
	// Token-weighted: mean NLL = (1+2+3+2)/4 = 2.
	if got := Perplexity([][]float64{{1, 2, 3}, {2}}); math.Abs(got-math.Exp(2)) > 1e-12 {
		t.Errorf("Perplexity = %v, want e^2", got)
	}
	// A uniform judge over 4096 tokens has perplexity 4096.
	nll := make([]float64, 50)
	for i := range nll {
		nll[i] = math.Log(4096)
	}
	if got := Perplexity([][]float64{nll}); math.Abs(got-4096) > 1e-9 {
		t.Errorf("uniform Perplexity = %v", got)
	}
	if !math.IsNaN(Perplexity(nil)) {
		t.Error("Perplexity of nothing is not NaN")
	}
}

func BenchmarkNewNGramSet(b *testing.B) {
	tokens := make([]int32, 1<<20)
	for i := range tokens {
		tokens[i] = int32((i * 2654435761) % 4096)
	}
	for b.Loop() {
		NewNGramSet(tokens, 8)
	}
}
