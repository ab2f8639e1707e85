package sample

import (
	"encoding/binary"
	"math"
)

// DistinctN is distinct-n over token ids: the number of different n-grams in samples divided
// by the number of n-grams (n-grams do not cross samples). It is 0 when there is no n-gram.
func DistinctN(samples [][]int32, n int) float64 {
	if n < 1 {
		panic("sample: DistinctN needs n >= 1")
	}
	seen := make(map[string]struct{})
	key := make([]byte, 4*n)
	total := 0
	for _, s := range samples {
		for i := 0; i+n <= len(s); i++ {
			for j, t := range s[i : i+n] {
				binary.LittleEndian.PutUint32(key[4*j:], uint32(t))
			}
			seen[string(key)] = struct{}{}
			total++
		}
	}
	if total == 0 {
		return 0
	}
	return float64(len(seen)) / float64(total)
}

// NGramSet is a set of the n-grams of a token stream, stored as 64-bit hashes: a false
// positive needs a hash collision, about len/2^64 per query.
type NGramSet struct {
	n   int
	set map[uint64]struct{}
}

// NewNGramSet holds every n-gram of tokens (built once from the training tokens).
func NewNGramSet(tokens []int32, n int) *NGramSet {
	if n < 1 {
		panic("sample: NewNGramSet needs n >= 1")
	}
	s := &NGramSet{n: n, set: make(map[uint64]struct{}, max(0, len(tokens)-n+1))}
	for i := 0; i+n <= len(tokens); i++ {
		s.set[hashGram(tokens[i:i+n])] = struct{}{}
	}
	return s
}

// N is the n-gram length.
func (s *NGramSet) N() int { return s.n }

// Len is the number of different n-grams held.
func (s *NGramSet) Len() int { return len(s.set) }

// Contains reports whether gram (of length N) occurs in the set.
func (s *NGramSet) Contains(gram []int32) bool {
	if len(gram) != s.n {
		panic("sample: NGramSet.Contains needs a gram of length N")
	}
	_, ok := s.set[hashGram(gram)]
	return ok
}

// Memorised is the memorisation share: the fraction of the n-grams of samples (not crossing
// samples) found in the set, and how many n-grams were checked. The share is 0 when there is
// none.
func (s *NGramSet) Memorised(samples [][]int32) (share float64, grams int) {
	hit := 0
	for _, x := range samples {
		for i := 0; i+s.n <= len(x); i++ {
			if _, ok := s.set[hashGram(x[i:i+s.n])]; ok {
				hit++
			}
			grams++
		}
	}
	if grams == 0 {
		return 0, 0
	}
	return float64(hit) / float64(grams), grams
}

// hashGram is FNV-1a over the tokens' little-endian bytes, finished with the splitmix64 mixer
// so that nearby grams spread over all 64 bits.
func hashGram(g []int32) uint64 {
	h := uint64(14695981039346656037)
	for _, t := range g {
		u := uint32(t)
		for range 4 {
			h ^= uint64(u & 0xff)
			h *= 1099511628211
			u >>= 8
		}
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Perplexity is a judge model's perplexity of generated text, exp of the mean per-token
// negative log-likelihood (nats) over every token of every sample (a token-weighted pool,
// not a mean of per-sample perplexities). It is NaN when there is no token.
func Perplexity(nll [][]float64) float64 {
	var sum float64
	n := 0
	for _, s := range nll {
		for _, x := range s {
			sum += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return math.Exp(sum / float64(n))
}
