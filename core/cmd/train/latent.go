package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

// latentSpace readies a new continuous run: it loads the encoder (-encoder), takes or
// measures its statistics, and shapes the network to read its latents (c.Model). It
// returns nil for the token objectives.
func latentSpace(o *options, c *train.Config, ds *dataset, stderr io.Writer) (*continuous.Space, error) {
	if c.Objective != "continuous" && c.Objective != "decoder" {
		return nil, nil
	}
	raw, err := readOnLead(o.encoderPath)
	if err != nil {
		return nil, fmt.Errorf("-encoder: %w", err)
	}
	f, err := checkpoint.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.encoderPath, err)
	}
	enc, err := model.FromFileInference(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.encoderPath, err)
	}
	if !bytes.Equal(f.Tokenizer, ds.tokJSON) {
		return nil, fmt.Errorf("%s: the encoder's tokenizer differs from the run's", o.encoderPath)
	}
	if enc.Cfg.Latent > 0 || enc.Cfg.Causal {
		return nil, fmt.Errorf("%s: the encoder must be a masked (bidirectional) model over tokens", o.encoderPath)
	}
	c.Encoder = fmt.Sprintf("%s sha256:%x", filepath.Base(o.encoderPath), sha256.Sum256(raw))
	var st continuous.Stats
	if o.statsPath != "" {
		b, err := os.ReadFile(o.statsPath)
		if err != nil {
			return nil, fmt.Errorf("-encoder-stats: %w", err)
		}
		if st, err = continuous.ParseStats(b); err != nil {
			return nil, fmt.Errorf("%s: %w", o.statsPath, err)
		}
	} else {
		windows := ds.train.Windows(enc.Cfg.SeqLen)
		fmt.Fprintf(stderr, "measuring the %s latents' statistics over %d training windows (pass -encoder-stats to skip)\n", c.Latents, len(windows))
		e := continuous.Contextual(enc)
		if c.Latents == "embeddings" {
			e = continuous.Embeddings(enc)
		}
		if st, err = continuous.Measure(e, enc.Cfg.Dim, windows, 32, []int32{enc.Cfg.EOTID(), enc.Cfg.MaskID()}, nil); err != nil {
			return nil, err
		}
	}
	c.Model.Latent = enc.Cfg.Dim
	c.Model.Denoiser = c.Objective == "continuous"
	c.Model.SelfCond = c.Model.Denoiser && o.selfCond
	return continuous.NewSpace(enc, c.Latents, st)
}

// attachDecoder gives a denoiser run the decoder its files carry (-decoder).
func attachDecoder(tr *train.Trainer, path string) error {
	if tr.Cfg.Objective != "continuous" {
		return fmt.Errorf("-decoder is for -objective continuous runs, this one is %s", tr.Cfg.Objective)
	}
	f, err := checkpoint.Load(path)
	if err != nil {
		return err
	}
	if f.Notes["objective"] != "decoder" {
		return fmt.Errorf("%s: not a decoder (objective %q)", path, f.Notes["objective"])
	}
	sp, _, err := continuous.SpaceFromFile(f, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if sp.Kind != tr.Space.Kind || !sameWeights(sp.Net, tr.Space.Net) {
		return fmt.Errorf("%s: the decoder was trained on another encoder's latents", path)
	}
	dec, err := model.FromFileInference(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return tr.SetSpace(tr.Space, dec)
}

func sameWeights(a, b *model.Model) bool {
	if a.Cfg != b.Cfg {
		return false
	}
	for i, v := range a.Params {
		if b.Params[i] != v {
			return false
		}
	}
	return true
}
