package main

import (
	"fmt"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/data"
	"github.com/austen-diffusion/textdiffusion/core/dist"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

type dataset struct {
	tok         *tokenizer.Tokenizer
	tokJSON     []byte
	batch       train.BatchFunc
	trainTokens int
	train       *data.Stream
	valWindows  [][]int32
	valPrev     []int32
}

// loadData tokenizes the training and validation text (cached) and builds the batch
// source. A resumed run keeps its own tokenizer (the one in its checkpoint).
func loadData(files, val, tokPath string, c train.Config, resumed *train.Trainer, out string) (*dataset, error) {
	docs, err := cli.Docs(files, "train")
	if err != nil {
		return nil, err
	}
	var tok *tokenizer.Tokenizer
	var raw []byte
	if resumed != nil && len(resumed.Tok) > 0 {
		if tok, err = tokenizer.Parse(resumed.Tok); err != nil {
			return nil, fmt.Errorf("tokenizer in checkpoint: %w", err)
		}
		raw = resumed.Tok
	} else {
		// Rank 0 loads (or trains and saves) the tokenizer; the other ranks get its JSON.
		if comm.Rank() == 0 {
			_, raw, err = cli.Tokenizer(tokPath, c.Model.Vocab, docs) // parsed below, as on every rank
		}
		if raw, err = dist.BroadcastBytes(comm, 0, raw, err); err != nil {
			return nil, err
		}
		if tok, err = tokenizer.Parse(raw); err != nil {
			return nil, fmt.Errorf("tokenizer from rank 0: %w", err)
		}
	}
	if resumed != nil && tok.Vocab() != c.Model.Vocab {
		return nil, fmt.Errorf("tokenizer has %d ids, the checkpoint's model %d", tok.Vocab(), c.Model.Vocab)
	}
	st, err := data.Tokenize(tok, docs, cli.CacheDir())
	if err != nil {
		return nil, err
	}
	vs, _, err := cli.Stream(tok, val, "val")
	if err != nil {
		return nil, err
	}
	obj, err := train.ObjectiveByName(c.Objective)
	if err != nil {
		return nil, err
	}
	n := obj.Window(c.Model.SeqLen) // ar: input and shifted targets
	b, err := data.NewBatcher(st, c.Batch, n, c.Seed)
	if err != nil {
		return nil, err
	}
	ds := &dataset{tok: tok, tokJSON: raw, trainTokens: len(st.Tokens), train: st}
	ds.batch = func(step int, dst []int32, B, L int) {
		if B != c.Batch || L != n {
			panic("train: batch shape changed")
		}
		b.BatchInto(dst, step)
	}
	ds.valWindows, ds.valPrev = cli.ValWindows(vs, c.Model.SeqLen, c.EvalTokens, tok.EOT())
	return ds, nil
}
