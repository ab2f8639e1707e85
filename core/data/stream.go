package data

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"unicode/utf8"

	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// Doc is one document: a name for error messages and its UTF-8 text.
type Doc struct {
	Name string
	Text []byte
}

// Stream is the token stream of a list of documents: each document's ids followed by
// the EOT id, so EOT separates documents and ends the stream.
type Stream struct {
	Tokens []int32
}

// ReadFiles reads text files as documents named by their paths.
func ReadFiles(paths []string) ([]Doc, error) {
	docs := make([]Doc, len(paths))
	for i, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		docs[i] = Doc{Name: p, Text: text}
	}
	return docs, nil
}

// LoadFiles reads text files and tokenizes them as Tokenize does.
func LoadFiles(tok *tokenizer.Tokenizer, paths []string, cacheDir string) (*Stream, error) {
	docs, err := ReadFiles(paths)
	if err != nil {
		return nil, err
	}
	return Tokenize(tok, docs, cacheDir)
}

// Tokenize makes the stream of docs. Every document must be valid UTF-8 (the error
// names the document and the byte offset). With a cacheDir, the stream is read from
// CachePath when that file is there and intact, and otherwise tokenized and written
// there; a damaged cache file is replaced, never trusted. An empty cacheDir disables
// the cache.
func Tokenize(tok *tokenizer.Tokenizer, docs []Doc, cacheDir string) (*Stream, error) {
	for _, d := range docs {
		if off, bad := invalidUTF8(d.Text); bad {
			return nil, fmt.Errorf("data: %s: invalid UTF-8 at byte offset %d", d.Name, off)
		}
	}
	var path string
	if cacheDir != "" {
		path = CachePath(tok, docs, cacheDir)
		if s, err := readCache(path, tok.Vocab()); err == nil {
			return s, nil
		}
	}
	s := tokenize(tok, docs)
	if path != "" {
		if err := writeCache(path, s, tok.Vocab()); err != nil {
			return nil, fmt.Errorf("data: writing token cache: %w", err)
		}
	}
	return s, nil
}

// invalidUTF8 returns the offset of the first byte that is not part of valid UTF-8.
func invalidUTF8(b []byte) (int, bool) {
	if utf8.Valid(b) {
		return 0, false
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i, true
		}
		i += n
	}
	return 0, false
}

// tokenize encodes the documents in parallel (one goroutine per core) and joins them.
func tokenize(tok *tokenizer.Tokenizer, docs []Doc) *Stream {
	parts := make([][]int32, len(docs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(docs)) {
		wg.Go(func() {
			for i := range next {
				parts[i] = tok.Encode(docs[i].Text)
			}
		})
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	out := make([]int32, 0, n)
	for _, p := range parts {
		out = append(append(out, p...), tok.EOT())
	}
	return &Stream{Tokens: out}
}

// CachePath is the cache file of docs under tok: <cacheDir>/<sha256>.tok, the hash
// taken over the tokenizer's tokenizer.json bytes and every document's bytes (each
// with its length, so different splits into documents hash differently).
func CachePath(tok *tokenizer.Tokenizer, docs []Doc, cacheDir string) string {
	h := sha256.New()
	var n [8]byte
	add := func(b []byte) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	add([]byte(cacheMagic))
	add(tok.Marshal())
	for _, d := range docs {
		add(d.Text)
	}
	return filepath.Join(cacheDir, fmt.Sprintf("%x.tok", h.Sum(nil)))
}

// Cache file layout, little-endian:
//
//	magic [8]byte "TDTOKv1\n"
//	vocab uint32, reserved uint32 (0)
//	count uint64
//	sha256 of the payload [32]byte
//	payload: count int32 token ids
const (
	cacheMagic  = "TDTOKv1\n"
	cacheHeader = 8 + 4 + 4 + 8 + 32
)

func readCache(path string, vocab int) (*Stream, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCache(raw, vocab)
}

// parseCache checks and decodes a cache file's bytes.
func parseCache(raw []byte, vocab int) (*Stream, error) {
	if len(raw) < cacheHeader || string(raw[:8]) != cacheMagic {
		return nil, errors.New("not a token cache file")
	}
	if v := binary.LittleEndian.Uint32(raw[8:]); v != uint32(vocab) {
		return nil, fmt.Errorf("cache vocab %d, tokenizer vocab %d", v, vocab)
	}
	count := binary.LittleEndian.Uint64(raw[16:])
	payload := raw[cacheHeader:]
	if count > uint64(len(payload))/4 || uint64(len(payload)) != 4*count {
		return nil, fmt.Errorf("cache holds %d payload bytes for %d tokens", len(payload), count)
	}
	if sum := sha256.Sum256(payload); string(sum[:]) != string(raw[24:56]) {
		return nil, errors.New("cache checksum mismatch")
	}
	toks := make([]int32, count)
	for i := range toks {
		id := int32(binary.LittleEndian.Uint32(payload[4*i:]))
		if id < 0 || int(id) >= vocab {
			return nil, fmt.Errorf("cache token %d is id %d, outside the vocab", i, id)
		}
		toks[i] = id
	}
	return &Stream{Tokens: toks}, nil
}

// writeCache writes atomically (temporary file, sync, rename), so a crash leaves the
// old file or the new one, and readers never see a partial file under the final name.
func writeCache(path string, s *Stream, vocab int) error {
	buf := make([]byte, cacheHeader+4*len(s.Tokens))
	copy(buf, cacheMagic)
	binary.LittleEndian.PutUint32(buf[8:], uint32(vocab))
	binary.LittleEndian.PutUint64(buf[16:], uint64(len(s.Tokens)))
	for i, id := range s.Tokens {
		binary.LittleEndian.PutUint32(buf[cacheHeader+4*i:], uint32(id))
	}
	sum := sha256.Sum256(buf[cacheHeader:])
	copy(buf[24:], sum[:])

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Windows cuts the stream into consecutive non-overlapping windows of l tokens for
// evaluation, dropping the last partial one. The windows share the stream's memory.
func (s *Stream) Windows(l int) [][]int32 {
	if l <= 0 {
		panic("data: window length must be positive")
	}
	out := make([][]int32, 0, len(s.Tokens)/l)
	for i := 0; i+l <= len(s.Tokens); i += l {
		out = append(out, s.Tokens[i:i+l:i+l])
	}
	return out
}
