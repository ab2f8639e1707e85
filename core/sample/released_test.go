package sample_test

import (
	"os"
	"slices"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// On the released model at temperature 0, speculative sampling is token-identical to the
// plain sampler for every strategy and every draft: the frozen draft, early exit after
// two blocks, and the released draft model.
func TestReleasedGreedyIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the released model")
	}
	if err := blas.Init(1); err != nil {
		t.Fatal(err)
	}
	m, f, err := model.Load("../../weights/austen-mdm.q8_0.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Parse(f.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	self, err := m.EarlyExit(2)
	if err != nil {
		t.Fatal(err)
	}
	drafts := []struct {
		name string
		d    sample.Denoiser
	}{{"frozen", nil}, {"self2", self}}
	const draftPath = "../../weights/austen-mdm-draft.q8_0.ckpt"
	if _, err := os.Stat(draftPath); err == nil {
		dm, _, err := model.Load(draftPath)
		if err != nil {
			t.Fatal(err)
		}
		drafts = append(drafts, struct {
			name string
			d    sample.Denoiser
		}{"draft model", dm})
	}
	prompt := tok.Encode([]byte("It is a truth universally acknowledged, that"))
	const n = 40
	ids := append(slices.Clone(prompt), slices.Repeat([]int32{tok.Mask()}, n)...)
	for _, o := range []sample.Options{
		{Strategy: "random", Steps: 20},
		{Strategy: "low-confidence", Steps: n},
		{Strategy: "semi-ar", BlockLength: 8, Steps: n},
		{Strategy: "threshold", Threshold: 0.9, Steps: n},
	} {
		o.Seed, o.MaskID, o.EOTID = 3, tok.Mask(), tok.EOT()
		want, err := sample.Infill(m, ids, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range drafts {
			got, err := sample.Speculative(m, ids, o, sample.SpecOptions{Draft: d.d, K: 4})
			if err != nil {
				t.Fatalf("%s, %s: %v", o.Strategy, d.name, err)
			}
			t.Logf("%s, %s: %d target calls for %d steps (plain %d calls), %d/%d tokens accepted",
				o.Strategy, d.name, got.TargetCalls, got.Steps, want.NFE, got.AcceptedTokens, got.CheckedTokens)
			if !slices.Equal(got.IDs, want.IDs) {
				t.Errorf("%s, %s: speculative %q\nplain %q", o.Strategy, d.name, tok.Decode(got.Generated), tok.Decode(want.Generated))
			}
		}
	}
}
