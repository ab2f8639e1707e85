// Package corpus holds the project's own copy of the Austen novels (zstd-compressed,
// pinned by SHA-256) so that training works on a fresh clone.
package corpus

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
)

//go:embed austen/*.zst austen/SHA256SUMS
var files embed.FS

// Book is one novel: its file name (e.g. "emma.txt") and its plain ASCII text.
type Book struct {
	Name string
	Text []byte
}

// ValidationBook is held out: never trained on, never used for the tokenizer.
const ValidationBook = "persuasion.txt"

// All returns the six books in name order, each checked against SHA256SUMS.
func All() ([]Book, error) {
	sums, err := readSums()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var books []Book
	for _, n := range names {
		comp, err := files.ReadFile("austen/" + n + ".zst")
		if err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", n, err)
		}
		text, err := dec.DecodeAll(comp, nil)
		if err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", n, err)
		}
		h := sha256.Sum256(text)
		if got := hex.EncodeToString(h[:]); got != sums[n] {
			return nil, fmt.Errorf("corpus: %s: sha256 %s, SHA256SUMS says %s", n, got, sums[n])
		}
		books = append(books, Book{Name: n, Text: text})
	}
	return books, nil
}

// Train returns the five training books (all but Persuasion).
func Train() ([]Book, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	var out []Book
	for _, b := range all {
		if b.Name != ValidationBook {
			out = append(out, b)
		}
	}
	return out, nil
}

// Validation returns Persuasion, the held-out book.
func Validation() (Book, error) {
	all, err := All()
	if err != nil {
		return Book{}, err
	}
	for _, b := range all {
		if b.Name == ValidationBook {
			return b, nil
		}
	}
	return Book{}, fmt.Errorf("corpus: %s missing", ValidationBook)
}

// Texts returns the texts of books, in order.
func Texts(books []Book) [][]byte {
	out := make([][]byte, len(books))
	for i, b := range books {
		out[i] = b.Text
	}
	return out
}

func readSums() (map[string]string, error) {
	raw, err := files.ReadFile("austen/SHA256SUMS")
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("corpus: bad SHA256SUMS line %q", line)
		}
		sums[strings.TrimPrefix(f[1], "*")] = f[0]
	}
	return sums, nil
}
