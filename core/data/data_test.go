package data

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/corpus"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

var (
	tokOnce sync.Once
	testTok *tokenizer.Tokenizer
	testDoc [][]byte
	tokErr  error
)

// setup trains a small tokenizer (vocab 512) on 40 KB and returns it with three
// 20 KB documents cut from other books.
func setup(t *testing.T) (*tokenizer.Tokenizer, [][]byte) {
	tokOnce.Do(func() {
		books, err := corpus.Train()
		if err != nil {
			tokErr = err
			return
		}
		testTok, tokErr = tokenizer.Train([][]byte{books[0].Text[:40000]}, 512)
		for _, b := range books[1:4] {
			testDoc = append(testDoc, b.Text[:20000])
		}
	})
	if tokErr != nil {
		t.Fatal(tokErr)
	}
	return testTok, testDoc
}

func docs(texts ...[]byte) []Doc {
	out := make([]Doc, len(texts))
	for i, t := range texts {
		out[i] = Doc{Name: "doc" + string(rune('A'+i)), Text: t}
	}
	return out
}

func TestStreamSeparators(t *testing.T) {
	tok, texts := setup(t)
	s, err := Tokenize(tok, docs(texts...), "")
	if err != nil {
		t.Fatal(err)
	}
	var want []int32
	for _, text := range texts {
		want = append(append(want, tok.Encode(text)...), tok.EOT())
	}
	if !slices.Equal(s.Tokens, want) {
		t.Fatal("stream is not the documents' ids each followed by EOT")
	}
	n := 0
	for _, id := range s.Tokens {
		if id == tok.EOT() {
			n++
		}
	}
	if n != len(texts) || s.Tokens[len(s.Tokens)-1] != tok.EOT() {
		t.Fatalf("%d EOT tokens for %d documents", n, len(texts))
	}
	empty, err := Tokenize(tok, docs([]byte{}), "")
	if err != nil || !slices.Equal(empty.Tokens, []int32{tok.EOT()}) {
		t.Fatalf("empty document: %v %v", empty, err)
	}
}

func TestInvalidUTF8(t *testing.T) {
	tok, _ := setup(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(path, []byte("good text\n\xe2\x80 broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFiles(tok, []string{path}, "")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "offset 10") {
		t.Fatalf("error %v should name %s and offset 10", err, path)
	}
	_, err = LoadFiles(tok, []string{filepath.Join(dir, "missing.txt")}, "")
	if err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Fatalf("error %v should name missing.txt", err)
	}
}

func writeDocs(t *testing.T, dir string, texts [][]byte) []string {
	var paths []string
	for i, text := range texts {
		p := filepath.Join(dir, string(rune('a'+i))+".txt")
		if err := os.WriteFile(p, text, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestCacheRoundTrip(t *testing.T) {
	tok, texts := setup(t)
	dir := t.TempDir()
	paths := writeDocs(t, dir, texts)
	cache := filepath.Join(dir, "cache")
	first, err := LoadFiles(tok, paths, cache)
	if err != nil {
		t.Fatal(err)
	}
	fileDocs, _ := ReadFiles(paths)
	path := CachePath(tok, fileDocs, cache)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no cache file: %v", err)
	}
	if want := int64(cacheHeader + 4*len(first.Tokens)); info.Size() != want {
		t.Fatalf("cache is %d bytes, want %d", info.Size(), want)
	}
	second, err := LoadFiles(tok, paths, cache)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.Tokens, second.Tokens) {
		t.Fatal("stream read from the cache differs")
	}
	// The cache is really read: a valid file with other tokens under the same name wins.
	fake := &Stream{Tokens: []int32{1, 2, 3, tok.EOT()}}
	if err := writeCache(path, fake, tok.Vocab()); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFiles(tok, paths, cache)
	if err != nil || !slices.Equal(got.Tokens, fake.Tokens) {
		t.Fatalf("cache not used: %v", err)
	}
	// Different content or a different tokenizer means a different cache file.
	other := docs(texts[0], texts[1])
	if CachePath(tok, other, cache) == path {
		t.Fatal("different documents share a cache path")
	}
	joined := docs(append(append([]byte{}, texts[0]...), texts[1]...))
	if CachePath(tok, joined, cache) == CachePath(tok, other, cache) {
		t.Fatal("one joined document hashes like two")
	}
}

func TestCorruptCacheRecovery(t *testing.T) {
	tok, texts := setup(t)
	cache := t.TempDir()
	ds := docs(texts...)
	want, err := Tokenize(tok, ds, cache)
	if err != nil {
		t.Fatal(err)
	}
	path := CachePath(tok, ds, cache)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	badID := bytes.Clone(good)
	copy(badID[cacheHeader:], []byte{0xff, 0xff, 0, 0}) // id 65535 with a matching checksum
	sum := sha256.Sum256(badID[cacheHeader:])
	copy(badID[24:], sum[:])
	huge := bytes.Clone(good)
	copy(huge[16:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	cases := map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)-7],
		"header":    good[:20],
		"magic":     flip(0),
		"vocab":     flip(9),
		"count":     flip(16),
		"huge":      huge,
		"checksum":  flip(30),
		"payload":   flip(len(good) - 2),
		"bad id":    badID,
		"extra":     append(bytes.Clone(good), 0),
	}
	for name, data := range cases {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Tokenize(tok, ds, cache)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(got.Tokens, want.Tokens) {
			t.Fatalf("%s: recovered stream differs", name)
		}
		if back, _ := os.ReadFile(path); !bytes.Equal(back, good) {
			t.Fatalf("%s: cache file not rewritten", name)
		}
	}
}

func TestWindows(t *testing.T) {
	s := &Stream{Tokens: []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}
	w := s.Windows(3)
	if len(w) != 3 || !slices.Equal(w[0], []int32{0, 1, 2}) || !slices.Equal(w[2], []int32{6, 7, 8}) {
		t.Fatalf("Windows(3) = %v", w)
	}
	if len(s.Windows(10)) != 1 || len(s.Windows(11)) != 0 {
		t.Fatal("window count at the edges")
	}
	w[0] = append(w[0], 99) // capped: must not overwrite the next window
	if s.Tokens[3] != 3 {
		t.Fatal("appending to a window changed the stream")
	}
}

func TestBatchDeterministic(t *testing.T) {
	tok, texts := setup(t)
	s, err := Tokenize(tok, docs(texts...), "")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewBatcher(s, 4, 32, 7)
	b, _ := NewBatcher(s, 4, 32, 7)
	c, _ := NewBatcher(s, 4, 32, 8)
	if !slices.Equal(a.Batch(5), b.Batch(5)) {
		t.Fatal("same seed and step give different batches")
	}
	x := a.Batch(100)
	a.Batch(3) // no state between calls: order does not matter
	if !slices.Equal(x, b.Batch(100)) {
		t.Fatal("batch depends on earlier calls")
	}
	if slices.Equal(a.Batch(5), c.Batch(5)) {
		t.Fatal("different seeds give the same batch")
	}
	if slices.Equal(a.Batch(5), a.Batch(6)) {
		t.Fatal("different steps give the same batch")
	}
	// Every row is a window of the stream.
	batch := a.Batch(9)
	for i := range 4 {
		row := batch[i*32 : (i+1)*32]
		found := false
		for st := 0; st+32 <= len(s.Tokens) && !found; st++ {
			found = slices.Equal(s.Tokens[st:st+32], row)
		}
		if !found {
			t.Fatalf("row %d is not a window of the stream", i)
		}
	}
}

// TestBatchCoversStream checks that starts reach both ends of a short stream.
func TestBatchCoversStream(t *testing.T) {
	s := &Stream{Tokens: []int32{0, 1, 2, 3, 4, 5}}
	b, err := NewBatcher(s, 8, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]bool{}
	for step := range 50 {
		batch := b.Batch(step)
		for i := 0; i < len(batch); i += 4 {
			seen[batch[i]] = true
		}
	}
	if len(seen) != 3 || !seen[0] || !seen[2] {
		t.Fatalf("window starts seen: %v, want 0, 1, 2", seen)
	}
}

func TestNewBatcherErrors(t *testing.T) {
	s := &Stream{Tokens: make([]int32, 10)}
	for _, c := range [][2]int{{0, 4}, {2, 0}, {2, 11}} {
		if _, err := NewBatcher(s, c[0], c[1], 0); err == nil {
			t.Errorf("NewBatcher(B=%d, L=%d) on 10 tokens: no error", c[0], c[1])
		}
	}
	if _, err := NewBatcher(s, 1, 10, 0); err != nil {
		t.Errorf("one full-length window: %v", err)
	}
}

func FuzzParseCache(f *testing.F) {
	path := filepath.Join(f.TempDir(), "x.tok")
	if err := writeCache(path, &Stream{Tokens: []int32{1, 2, 300, 511}}, 512); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:cacheHeader])
	f.Add([]byte(cacheMagic))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := parseCache(raw, 512)
		if err != nil {
			return
		}
		if len(raw) != cacheHeader+4*len(s.Tokens) {
			t.Fatalf("accepted %d bytes for %d tokens", len(raw), len(s.Tokens))
		}
		for _, id := range s.Tokens {
			if id < 0 || id >= 512 {
				t.Fatalf("accepted id %d", id)
			}
		}
	})
}
