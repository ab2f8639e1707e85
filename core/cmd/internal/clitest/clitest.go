// Package clitest holds the fixtures the command tests share: a short Austen text and tiny
// random models saved as checkpoint files.
package clitest

import (
	"path/filepath"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// Text is the opening of Pride and Prejudice: enough for a 300-id tokenizer.
const Text = `It is a truth universally acknowledged, that a single man in possession of a good
fortune, must be in want of a wife. However little known the feelings or views of such a man
may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the
surrounding families, that he is considered the rightful property of some one or other of
their daughters.`

// Tokenizer trains a 300-id tokenizer on text.
func Tokenizer(t testing.TB, text string) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Train([][]byte{[]byte(text)}, 300)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Model saves a tiny random model (d=16, one layer, two heads; causal or bidirectional) of
// sequence length seqLen with tok as dir/name and returns the path.
func Model(t testing.TB, dir, name string, causal bool, tok *tokenizer.Tokenizer, seqLen int) string {
	t.Helper()
	cfg := model.Config{Vocab: tok.Vocab(), Dim: 16, Layers: 1, Heads: 2, Hidden: 32, SeqLen: seqLen,
		Causal: causal, RopeTheta: 10000, NormEps: 1e-5}
	m, err := model.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := checkpoint.Save(p, m.ToFile(tok.Marshal())); err != nil {
		t.Fatal(err)
	}
	return p
}

// Continuous saves a tiny random continuous diffusion model with tok as dir/name and
// returns the path: a Model-sized bidirectional encoder (its statistics measured on Text),
// a one-block denoiser with self-conditioning and a one-block decoder, schedule tan-9.
func Continuous(t testing.TB, dir, name string, tok *tokenizer.Tokenizer, seqLen int) string {
	t.Helper()
	cfg := model.Config{Vocab: tok.Vocab(), Dim: 16, Layers: 1, Heads: 2, Hidden: 32, SeqLen: seqLen,
		RopeTheta: 10000, NormEps: 1e-5}
	enc, err := model.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode([]byte(Text))
	var windows [][]int32
	for o := 0; o+8 <= len(ids); o += 8 {
		windows = append(windows, ids[o:o+8])
	}
	st, err := continuous.Measure(continuous.Contextual(enc), cfg.Dim, windows, 4, []int32{tok.EOT(), tok.Mask()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := continuous.NewSpace(enc, "contextual", st)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Latent = cfg.Dim
	dcfg := cfg
	cfg.Denoiser, cfg.SelfCond = true, true
	den, err := model.New(cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := model.New(dcfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	f := den.ToFile(tok.Marshal())
	if err := continuous.Attach(f, sp, continuous.TanD{D: 9}, dec); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := checkpoint.Save(p, f); err != nil {
		t.Fatal(err)
	}
	return p
}
