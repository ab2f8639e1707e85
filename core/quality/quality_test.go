package quality

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/masked"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/sample"
)

func tinyConfig(causal bool) model.Config {
	return model.Config{Vocab: 40, Dim: 16, Layers: 1, Heads: 2, Hidden: 32, SeqLen: 16, Causal: causal, RopeTheta: 10000, NormEps: 1e-5}
}

func tiny(t *testing.T, causal bool, seed uint64) *model.Model {
	t.Helper()
	m, err := model.New(tinyConfig(causal), seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// uniform is a causal judge with every weight zero: its logits are all 0, so it gives every
// token probability 1/V.
func uniform(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.Empty(tinyConfig(true))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUniformJudgePerplexityIsV(t *testing.T) {
	j := uniform(t)
	seqs := [][]int32{{1, 2, 3, 4, 5}, {39, 38, 0}, {7, 7, 7, 7, 7, 7, 7, 7}}
	nll, err := NLL(j, seqs, []int32{38, 38, 38}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range nll {
		if len(s) != len(seqs[i]) {
			t.Fatalf("sequence %d: %d NLLs for %d tokens", i, len(s), len(seqs[i]))
		}
	}
	if ppl := sample.Perplexity(nll); math.Abs(ppl-40) > 1e-9 {
		t.Fatalf("uniform judge perplexity %v, want V = 40", ppl)
	}
}

// NLL batches sequences of equal length; the result must equal scoring each one alone.
func TestNLLBatchedEqualsOneByOne(t *testing.T) {
	j := tiny(t, true, 3)
	seqs := [][]int32{{1, 2, 3, 4}, {5, 6, 7}, {8, 9, 10, 11}, {12, 13, 14, 15}, {}, {16, 17, 18}}
	prev := []int32{38, 38, 3, 38, 38, 20}
	got, err := NLL(j, seqs, prev, 8)
	if err != nil {
		t.Fatal(err)
	}
	V := j.Cfg.Vocab
	for i, s := range seqs {
		if len(s) == 0 {
			if len(got[i]) != 0 {
				t.Fatalf("empty sequence scored %v", got[i])
			}
			continue
		}
		logits, err := j.Logits(append([]int32{prev[i]}, s[:len(s)-1]...))
		if err != nil {
			t.Fatal(err)
		}
		for k, tg := range s {
			want := masked.CrossEntropy(logits[k*V:(k+1)*V], []int32{tg}, V)
			if math.Abs(got[i][k]-want) > 1e-5 {
				t.Fatalf("sequence %d token %d: NLL %v batched, %v alone", i, k, got[i][k], want)
			}
		}
	}
}

// A sequence longer than the judge's window (16) is read window by window: token k's NLL is
// the judge's on the window that scores it, which is also the last token's NLL of the
// stretch that window reads, scored in one call.
func TestNLLLongWindows(t *testing.T) {
	j := tiny(t, true, 5)
	long := make([]int32, 45)
	for i := range long {
		long[i] = int32((i*7 + 3) % 38)
	}
	short := []int32{4, 5, 6}
	got, err := NLL(j, [][]int32{long, short}, []int32{38, 38}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0]) != len(long) || len(got[1]) != len(short) {
		t.Fatalf("%d and %d NLLs for %d and %d tokens", len(got[0]), len(got[1]), len(long), len(short))
	}
	// Windows: tokens 0-15 after EOT; then 16-23 reading 8-23, 24-31 reading 16-31, 32-39
	// reading 24-39, 40-44 reading 32-44.
	for k := range long {
		lo, prev := 0, int32(38)
		if k >= 16 {
			lo = (k-16)/8*8 + 8
			prev = long[lo-1]
		}
		one, err := NLL(j, [][]int32{long[lo : k+1]}, []int32{prev}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := one[0][k-lo]; math.Abs(got[0][k]-want) > 1e-5 {
			t.Fatalf("token %d: NLL %v, want %v (read from token %d)", k, got[0][k], want, lo)
		}
	}
}

func TestNLLErrors(t *testing.T) {
	if _, err := NLL(tiny(t, false, 1), [][]int32{{1}}, []int32{2}, 1); err == nil {
		t.Error("bidirectional judge accepted")
	}
	j := uniform(t)
	for name, c := range map[string]struct {
		seqs [][]int32
		prev []int32
	}{
		"bad token":     {[][]int32{{1, 40}}, []int32{1}},
		"bad context":   {[][]int32{{1}}, []int32{-1}},
		"context count": {[][]int32{{1}, {2}}, []int32{1}},
	} {
		if _, err := NLL(j, c.seqs, c.prev, 4); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestReferenceRow(t *testing.T) {
	train := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	mem := sample.NewNGramSet(train, 8)
	// Windows copied from the training tokens: every 8-gram is memorised.
	windows := [][]int32{train[0:10], train[10:20], train[2:12], train[5:15]}
	r, err := Reference(uniform(t), mem, windows, 38, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Reference || r.Samples != 4 || r.Tokens != 40 || r.Grams != 4*3 {
		t.Fatalf("row %+v", r)
	}
	if math.Abs(r.JudgePPL-40) > 1e-9 || r.JudgeSE > 1e-9 {
		t.Errorf("uniform judge: PPL %v ± %v, want 40 ± 0", r.JudgePPL, r.JudgeSE)
	}
	if r.Memorised != 1 {
		t.Errorf("memorised %v for text copied from the training tokens, want 1", r.Memorised)
	}
	// Groups of 2: {0..9, 10..19} all distinct (1.0); {2..11, 5..14} shares 5..11 (7 of 20
	// unigrams repeat: 13 distinct / 20).
	if want := (1 + 13.0/20) / 2; math.Abs(r.Distinct1-want) > 1e-12 {
		t.Errorf("distinct-1 %v, want %v", r.Distinct1, want)
	}
	// Fresh text shares no 8-gram with the training tokens.
	r, err = Reference(uniform(t), mem, [][]int32{{20, 19, 18, 17, 16, 15, 14, 13, 12}}, 38, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Memorised != 0 || r.Grams != 2 || r.Distinct1 != 1 {
		t.Errorf("reversed text: memorised %v of %d grams, distinct-1 %v", r.Memorised, r.Grams, r.Distinct1)
	}
}

func TestGenerateAndScore(t *testing.T) {
	d := tiny(t, false, 5)
	s := Setting{Strategy: "threshold", Grid: "cosine", Options: sample.Options{Strategy: "threshold", Steps: 4, Temperature: 1}}
	calls := 0
	smp, err := Generate(d, s, 8, 3, 11, func() { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 || len(smp.Tokens) != 3 || smp.NFE < 3 || smp.NFE > 3*4 || smp.Seconds <= 0 {
		t.Fatalf("callbacks %d, %d samples, NFE %d, %v s", calls, len(smp.Tokens), smp.NFE, smp.Seconds)
	}
	for _, x := range smp.Tokens {
		if len(x) != 8 || slices.Contains(x, 39) {
			t.Fatalf("sample %v: want 8 tokens and no MASK", x)
		}
	}
	again, err := Generate(d, s, 8, 3, 11, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(smp.Tokens, again.Tokens, slices.Equal) {
		t.Fatal("same seed, different samples")
	}
	if slices.Equal(smp.Tokens[0], smp.Tokens[1]) && slices.Equal(smp.Tokens[1], smp.Tokens[2]) {
		t.Fatal("three samples at temperature 1 are identical: seeds not varied")
	}

	r, err := Score(uniform(t), nil, s, smp, 38, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "threshold(0.9)/cosine/4" || r.Strategy != "threshold(0.9)" || r.Samples != 3 || r.Tokens != 24 || math.Abs(r.JudgePPL-40) > 1e-9 || r.Grams != 0 {
		t.Fatalf("row %+v", r)
	}
	if r.NFEPerToken != float64(smp.NFE)/24 || r.NFEPerSample != float64(smp.NFE)/3 || r.SecondsPerSample != smp.Seconds/3 {
		t.Fatalf("cost columns %+v for NFE %d", r, smp.NFE)
	}

	// The AR setting: one call per token.
	ar := Setting{Strategy: "ar", Options: sample.Options{Temperature: 1}}
	smp, err = Generate(tiny(t, true, 6), ar, 8, 2, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if smp.NFE != 16 || len(smp.Tokens) != 2 || len(smp.Tokens[1]) != 8 {
		t.Fatalf("AR: NFE %d, %d samples", smp.NFE, len(smp.Tokens))
	}
}

// Samples longer than the model's window (16) are written chunk by chunk, and scored.
func TestGenerateLong(t *testing.T) {
	s := Setting{Strategy: "random", Grid: "cosine", Window: 16, Options: sample.Options{Strategy: "random", Temperature: 1}}
	smp, err := Generate(tiny(t, false, 5), s, 40, 2, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(smp.Tokens) != 2 || len(smp.Tokens[0]) != 40 || slices.Contains(smp.Tokens[0], 39) {
		t.Fatalf("long samples %v", smp.Tokens)
	}
	ar := Setting{Strategy: "ar", Window: 16, Options: sample.Options{Temperature: 1}}
	if smp, err = Generate(tiny(t, true, 6), ar, 40, 1, 1, nil); err != nil || len(smp.Tokens[0]) != 40 || smp.NFE != 40 {
		t.Fatalf("long AR sample: %v, NFE %d, err %v", smp.Tokens, smp.NFE, err)
	}
	r, err := Score(uniform(t), nil, s, smp, 38, 2)
	if err != nil || r.Tokens != 40 {
		t.Fatalf("scoring a long sample: %+v, %v", r, err)
	}
	s.Window = 0
	if _, err := Generate(tiny(t, false, 5), s, 40, 1, 3, nil); err == nil {
		t.Fatal("a sample past the window without Window: no error")
	}
}

func TestReports(t *testing.T) {
	rows := []Row{
		{Name: "reference (real text)", Strategy: "reference", JudgePPL: 50, Reference: true, Distinct1: 0.5},
		{Name: "random/cosine/16", Strategy: "random", Grid: "cosine", Steps: 16, JudgePPL: 300, NFEPerToken: 0.25, NFEPerSample: 16, Grams: 10, Memorised: 0.1},
		{Name: "random/cosine/32", Strategy: "random", Grid: "cosine", Steps: 32, JudgePPL: 200, NFEPerToken: 0.5, NFEPerSample: 32},
		{Name: "random/linear/16", Strategy: "random", Grid: "linear", Steps: 16, JudgePPL: 320, NFEPerToken: 0.25, NFEPerSample: 16},
		{Name: "ar (left to right)", Strategy: "ar", JudgePPL: 60, NFEPerToken: 1, NFEPerSample: 64},
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, "Quality", []string{"a note"}, rows); err != nil {
		t.Fatal(err)
	}
	s := md.String()
	for _, want := range []string{"# Quality", "a note", "| **reference (real text)** | - | 50.0 |", "| random/cosine/16 | 0.250 | 300.0 |", "10.0%"} {
		if !strings.Contains(s, want) {
			t.Errorf("markdown lacks %q:\n%s", want, s)
		}
	}
	if got := strings.Count(s, "\n|"); got != len(rows)+2 {
		t.Errorf("%d table rows after the header, want %d", got, len(rows)+2)
	}
	var img bytes.Buffer
	if err := WritePNG(&img, "judge perplexity vs NFE", rows); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&img); err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
}

// Rows at one cost (an ablation across models) get the dot plot, one line of the picture
// per row; rows spread over costs get the line plot's fixed size.
func TestWritePNGDotsForOneCost(t *testing.T) {
	rows := []Row{{Name: "reference", Reference: true, JudgePPL: 60}}
	for i, ppl := range []float64{300, 800, 4000} {
		rows = append(rows, Row{Name: fmt.Sprintf("m%d: continuous/sde/50", i), Strategy: Continuous, Grid: "sde", Model: fmt.Sprintf("m%d", i), JudgePPL: ppl, JudgeSE: ppl / 10, NFEPerSample: 50})
	}
	height := func(rows []Row) int {
		var b bytes.Buffer
		if err := WritePNG(&b, "t", rows); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&b)
		if err != nil {
			t.Fatal(err)
		}
		return img.Bounds().Dy()
	}
	dots := height(rows)
	rows[3].NFEPerSample = 100
	lines := height(rows)
	if dots == lines || dots >= lines {
		t.Fatalf("dot plot %d px high, line plot %d: want the dot plot's height to follow its 3 rows", dots, lines)
	}
}
