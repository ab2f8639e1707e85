package infill

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		text   string
		pieces []string // nil: an error mentioning err
		err    string
	}{
		{"a truth ___ acknowledged", []string{"a truth", " acknowledged"}, ""},
		{"a truth [MASK] acknowledged", []string{"a truth", " acknowledged"}, ""},
		{"a ___ b [MASK] c", []string{"a", " b", " c"}, ""},
		{"a truth___acknowledged", []string{"a truth", "acknowledged"}, ""}, // no space: nothing taken
		{"a truth  ___ x", []string{"a truth ", " x"}, ""},                  // one space only
		{"a truth\n___ x", []string{"a truth\n", " x"}, ""},                 // a space, not a newline
		{"one ________ run", []string{"one", " run"}, ""},                   // any run of 3+ is one blank
		{"___ starts", []string{"", " starts"}, ""},                         // leading
		{" ___ starts", []string{"", " starts"}, ""},                        // leading, after a space
		{"ends ___", []string{"ends", ""}, ""},                              // trailing
		{"___", []string{"", ""}, ""},                                       // a blank alone
		{"a ___[MASK] b", []string{"a", "", " b"}, ""},                      // adjacent
		{"a ___ ___ b", []string{"a", "", " b"}, ""},                        // adjacent across a space
		{"a [MASK][MASK]___ b", []string{"a", "", "", " b"}, ""},            // three adjacent
		{"a __ b", nil, "no blank"},                                         // two underscores are text
		{"", nil, "no blank"},                                               // empty
		{"a [MASK b", nil, "no blank"},                                      // unclosed
		{"a [mask] b", nil, `"[mask]" at byte 2`},                           // wrong case
		{"a ___ b [Mask]", nil, `"[Mask]" at byte 8`},                       // wrong case after a good blank
		{"<|mask|> a", nil, "no blank"},                                     // the tokenizer's own text is text
	} {
		got, err := Parse(c.text)
		if c.pieces == nil {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), Spellings) {
				t.Errorf("Parse(%q) = %q, %v; want an error with %q and the spellings", c.text, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.pieces) {
			t.Errorf("Parse(%q) = %q, %v; want %q", c.text, got, err, c.pieces)
		}
	}
}

const corpus = "It is a truth universally acknowledged, that a single man in possession of a good " +
	"fortune, must be in want of a wife. Emma Woodhouse, handsome, clever, and rich."

func TestEncode(t *testing.T) {
	tok, err := tokenizer.Train([][]byte{[]byte(corpus)}, 300)
	if err != nil {
		t.Fatal(err)
	}
	m := tok.Mask()
	ids, blanks, err := Encode(tok, "a truth ___ acknowledged,[MASK]", 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(tok.Encode([]byte("a truth")), []int32{m, m}, tok.Encode([]byte(" acknowledged,")), []int32{m, m})
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	if n := len(want); fmt.Sprint(blanks) != fmt.Sprint([][2]int{{n - 4 - len(tok.Encode([]byte(" acknowledged,"))), n - 2 - len(tok.Encode([]byte(" acknowledged,")))}, {n - 2, n}}) {
		t.Errorf("blanks %v over %d ids", blanks, n)
	}
	if _, _, err := Encode(tok, "a ___", 0, 0); err == nil || !strings.Contains(err.Error(), "0 tokens per blank") {
		t.Errorf("0 tokens per blank: %v", err)
	}
	if _, _, err := Encode(tok, "a ___ b ___", 8, 16); err == nil || !strings.Contains(err.Error(), "18 tokens") || !strings.Contains(err.Error(), "16 positions") {
		t.Errorf("over the window: %v", err)
	}
	if _, _, err := Encode(tok, "a b", 2, 0); err == nil || !strings.Contains(err.Error(), "no blank") {
		t.Errorf("no blank: %v", err)
	}
}

// FuzzParse checks that Parse never fails on text with a blank but without a mis-cased
// [MASK], that Format writes back what it read, and that Encode puts exactly n MASK ids in
// each blank and the text's own bytes around them.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a ___ b", "[MASK]__x", "a  [MASK][MASK] ___", "__ _", "[mask]", "é___\xff", ""} {
		f.Add(s)
	}
	tok, err := tokenizer.Train([][]byte{[]byte(corpus)}, 300)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		pieces, err := Parse(text)
		hasBlank := strings.Contains(text, "___") || strings.Contains(text, "[MASK]")
		miscased := strings.Count(strings.ToLower(text), "[mask]") > strings.Count(text, "[MASK]")
		if err != nil {
			if hasBlank && !miscased {
				t.Fatalf("Parse(%q): %v", text, err)
			}
			return
		}
		if miscased {
			t.Fatalf("Parse(%q) took a mis-cased [MASK]: %q", text, pieces)
		}
		if !hasBlank || len(pieces) < 2 {
			t.Fatalf("Parse(%q) = %q without a blank", text, pieces)
		}
		if again, err := Parse(Format(pieces)); err != nil || !slices.Equal(again, pieces) {
			t.Fatalf("Parse(Format(%q)) = %q, %v", pieces, again, err)
		}
		ids, blanks, err := Encode(tok, text, 2, 0)
		if err != nil || len(blanks) != len(pieces)-1 {
			t.Fatalf("Encode(%q): %d blanks, %v; want %d", text, len(blanks), err, len(pieces)-1)
		}
		at := 0
		for i, p := range pieces {
			end := len(ids)
			if i < len(blanks) {
				end = blanks[i][0]
				for _, id := range ids[end:blanks[i][1]] {
					if id != tok.Mask() {
						t.Fatalf("Encode(%q): blank %d holds %v", text, i, ids[end:blanks[i][1]])
					}
				}
			}
			if got := string(tok.Decode(ids[at:end])); got != p {
				t.Fatalf("Encode(%q): piece %d decodes to %q, want %q", text, i, got, p)
			}
			if i < len(blanks) {
				at = blanks[i][1]
			}
		}
	})
}

// The regular expressions that blanks and maskAnyCase scan for by hand.
var (
	blankRE    = regexp.MustCompile(`_{3,}|\[MASK\]`)
	nearMissRE = regexp.MustCompile(`(?i)\[mask\]`)
)

// scanAgrees fails t unless blanks and maskAnyCase find what the regular expressions find.
func scanAgrees(t *testing.T, text string) {
	var want [][2]int
	for _, loc := range blankRE.FindAllStringIndex(text, -1) {
		want = append(want, [2]int{loc[0], loc[1]})
	}
	if got := blanks(text); !slices.Equal(got, want) {
		t.Errorf("blanks(%q) = %v, the regexp finds %v", text, got, want)
	}
	wantS, wantAt := "", 0
	for _, loc := range nearMissRE.FindAllStringIndex(text, -1) {
		if s := text[loc[0]:loc[1]]; s != "[MASK]" {
			wantS, wantAt = s, loc[0]
			break
		}
	}
	if s, at := maskAnyCase(text); s != wantS || at != wantAt {
		t.Errorf("maskAnyCase(%q) = %q at %d, the regexp finds %q at %d", text, s, at, wantS, wantAt)
	}
}

func TestScanMatchesRegexp(t *testing.T) {
	for _, text := range []string{"a ___ b", "__x___", "______", "__", "[MASK][MASK]", "[[MASK]", "[MASK",
		"a [mask] b", "[MaSk]", "[ma\u017fk]", "[mas\u212a]", "[MASK][mask]", "[\xffask]", "é___\xff[MASK]", ""} {
		scanAgrees(t, text)
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{"a ___ b", "[MASK]__x", "[ma\u017fk]", "[[mask]"} {
		f.Add(s)
	}
	f.Fuzz(scanAgrees)
}
