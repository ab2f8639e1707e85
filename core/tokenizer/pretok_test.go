package tokenizer

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// TestPretokenizeGolden compares with the GPT-2 pattern applied by Python's re
// (testdata/gen_pretok.py), including non-ASCII letters, digits and spaces.
func TestPretokenizeGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/pretok_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Text   string   `json:"text"`
		Pieces []string `json:"pieces"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	for _, c := range cases {
		var got []string
		for _, p := range pretokenize([]byte(c.Text)) {
			got = append(got, string(p))
		}
		if !slices.Equal(got, c.Pieces) {
			t.Errorf("pretokenize(%q) = %q, want %q", c.Text, got, c.Pieces)
		}
	}
}

func TestPretokenizeCases(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"I'm here, aren't you?", []string{"I", "'m", " here", ",", " aren", "'t", " you", "?"}},
		{"they'll've 'd", []string{"they", "'ll", "'ve", " '", "d"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"end  ", []string{"end", "  "}},
		{"x 1234 y", []string{"x", " 1234", " y"}},
		{"--\"Oh!\"", []string{"--\"", "Oh", "!\""}},
		{"\xff\xfeab", []string{"\xff\xfe", "ab"}},
		{" \xe2\x80\x9cNo", []string{" \xe2\x80\x9c", "No"}},
	}
	for _, c := range cases {
		var got []string
		for _, p := range pretokenize([]byte(c.in)) {
			got = append(got, string(p))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("pretokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestPretokenizeCovers checks that the pieces of random byte strings are non-empty
// and concatenate back to the input.
func TestPretokenizeCovers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		s := randomBytes(r, r.IntN(64))
		pieces := pretokenize(s)
		for _, p := range pieces {
			if len(p) == 0 {
				t.Fatalf("empty piece in %q", s)
			}
		}
		if got := bytes.Join(pieces, nil); !bytes.Equal(got, s) {
			t.Fatalf("pieces of %q join to %q", s, got)
		}
	}
}

// randomBytes mixes text-like bytes, UTF-8 sequences and arbitrary bytes.
func randomBytes(r *rand.Rand, n int) []byte {
	const alpha = "aaeeiosst hHT  \n'.,!-0123"
	var out []byte
	for len(out) < n {
		switch r.IntN(8) {
		case 0:
			out = append(out, byte(r.IntN(256)))
		case 1:
			out = append(out, "é’—\u00a0\u3000"[r.IntN(5)*2:]...) // may cut a character in half
		default:
			out = append(out, alpha[r.IntN(len(alpha))])
		}
	}
	return out[:n]
}
