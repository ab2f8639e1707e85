package tokenizer

import (
	"sync"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/corpus"
)

var (
	benchOnce sync.Once
	benchTok  *Tokenizer
	benchText []byte
	benchErr  error
)

// benchSetup trains the project tokenizer (vocab 4096, five training books) and loads
// the held-out book to encode.
func benchSetup(b *testing.B) (*Tokenizer, []byte) {
	benchOnce.Do(func() {
		books, err := corpus.Train()
		if err != nil {
			benchErr = err
			return
		}
		benchTok, benchErr = Train(corpus.Texts(books), 4096)
		if benchErr != nil {
			return
		}
		v, err := corpus.Validation()
		benchText, benchErr = v.Text, err
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchTok, benchText
}

// BenchmarkTrain trains vocab 4096 on the five training books (~3.5 MB).
func BenchmarkTrain(b *testing.B) {
	books, err := corpus.Train()
	if err != nil {
		b.Fatal(err)
	}
	texts := corpus.Texts(books)
	n := 0
	for _, t := range texts {
		n += len(t)
	}
	b.SetBytes(int64(n))
	for b.Loop() {
		if _, err := Train(texts, 4096); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode encodes the held-out book (Persuasion) with a warm cache; MB/s is
// the figure to compare with the 5 MB/s target.
func BenchmarkEncode(b *testing.B) {
	tok, text := benchSetup(b)
	tok.Encode(text)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text)
	}
}

// BenchmarkEncodeCold encodes with an empty cache each time: every distinct word runs
// the merge loop once.
func BenchmarkEncodeCold(b *testing.B) {
	tok, text := benchSetup(b)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.mu.Lock()
		clear(tok.cache)
		tok.mu.Unlock()
		tok.Encode(text)
	}
}

// BenchmarkDecode decodes the held-out book.
func BenchmarkDecode(b *testing.B) {
	tok, text := benchSetup(b)
	ids := tok.Encode(text)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Decode(ids)
	}
}
