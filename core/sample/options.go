package sample

import (
	"fmt"
	"math"
)

// Options configures Sample and Infill. The zero value (plus GenLength for Sample) is a
// valid greedy, low-confidence, cosine-grid sampler with one token per step.
type Options struct {
	// Steps is the number of grid steps (0 means one per masked token). Steps that commit no
	// token are skipped and cost no call. With Strategy "threshold" it is a maximum: the grid
	// is a floor on how many tokens are committed by each step, so sampling ends within
	// Steps steps and usually much sooner.
	Steps int
	// GenLength is N, the number of tokens Sample generates after the prompt (Infill ignores it).
	GenLength int
	// Grid is "cosine" (default) or "linear" (LLaDA's get_num_transfer_tokens).
	Grid string
	// Strategy chooses which masked positions a step commits:
	//   "random"          uniformly random masked positions (LLaDA Alg. 4);
	//   "low-confidence"  the most confident positions (LLaDA Alg. 5), the default;
	//   "semi-ar"         low-confidence inside blocks of BlockLength, left to right;
	//   "threshold"       every position with confidence >= Threshold, at least one
	//                     (Fast-dLLM), and at least the grid's count (see Steps).
	// BlockLength > 0 splits every strategy into blocks; "semi-ar" requires it.
	Strategy string
	// Confidence is the score ranking positions: "prob" (default; the softmax probability of
	// the candidate, without Gumbel noise), "entropy" (minus the entropy, in nats, of the
	// position's distribution) or "margin" (top-1 minus top-2 probability).
	Confidence string
	// Temperature T_g: a candidate is distributed as argmax(logits + T_g*Gumbel), that is
	// drawn from softmax(logits/T_g) (by inverse CDF, which is cheaper); 0 is greedy.
	Temperature float64
	// TopK keeps the K largest logits of a position before drawing (0: all). Ties at the cut
	// are kept.
	TopK int
	// TopP keeps the smallest set of tokens whose tempered probability (softmax(logits/T_g))
	// reaches TopP before drawing (0 or >= 1: all; no effect when greedy). Ties at the cut are
	// kept.
	TopP float64
	// BlockLength is the semi-autoregressive block, counted from the first masked position;
	// steps are split evenly over blocks (the remainder to the first), at least one each, and
	// positions after the current block are never committed.
	BlockLength int
	// Threshold is tau for Strategy "threshold", compared with the Confidence score. 0 means
	// 0.9 for "prob" and "margin"; "entropy" scores are <= 0, so it needs a negative value.
	Threshold float64
	// CFGScale s > 0 turns on classifier-free guidance (LLaDA): l = l_u + (s+1)(l_c - l_u),
	// where l_u comes from a second pass with every given (non-MASK input) token replaced by
	// MASK. Each step then costs two calls.
	CFGScale float64
	// StopAtEOT truncates the result, after sampling, before the first EOT sampled after the
	// last given token (for Sample: the first generated EOT). The EOT itself is dropped.
	StopAtEOT bool
	// Seed seeds the sampler's random stream: equal seeds give equal outputs.
	Seed uint64
	// MaskID and EOTID are the special tokens; 0 selects the project's convention,
	// MASK = Vocab()-1 and EOT = Vocab()-2 (id 0 is a byte token there, never special).
	MaskID, EOTID int32
	// OnStep, when set, is called after every step that committed tokens, with the count of
	// steps taken so far (1-based), the whole sequence and the positions committed by this
	// step in increasing order. Both slices are the sampler's own: read them during the
	// call only.
	OnStep func(step int, ids []int32, committed []int)
}

type strategy int

const (
	stratLowConf strategy = iota
	stratRandom
	stratThreshold
)

type confidence int

const (
	confProb confidence = iota
	confEntropy
	confMargin
)

// config is Options checked and resolved against a vocabulary.
type config struct {
	Options
	linear   bool
	strategy strategy
	conf     confidence
	v        int
	mask     int32
	eot      int32
}

func resolve(opt Options, v int) (config, error) {
	c := config{Options: opt, v: v}
	if v < 2 {
		return c, fmt.Errorf("sample: vocabulary of %d tokens, need at least 2", v)
	}
	switch opt.Grid {
	case "", GridCosine:
	case GridLinear:
		c.linear = true
	default:
		return c, fmt.Errorf("sample: unknown Grid %q (want %s)", opt.Grid, Names(Grids))
	}
	switch opt.Strategy {
	case "", StrategyLowConfidence:
	case StrategyRandom:
		c.strategy = stratRandom
	case StrategySemiAR:
		if opt.BlockLength <= 0 {
			return c, fmt.Errorf("sample: Strategy %s needs BlockLength > 0, got %d", StrategySemiAR, opt.BlockLength)
		}
	case StrategyThreshold:
		c.strategy = stratThreshold
	default:
		return c, fmt.Errorf("sample: unknown Strategy %q (want %s)", opt.Strategy, Names(Strategies))
	}
	switch opt.Confidence {
	case "", ConfidenceProb:
	case ConfidenceEntropy:
		c.conf = confEntropy
	case ConfidenceMargin:
		c.conf = confMargin
	default:
		return c, fmt.Errorf("sample: unknown Confidence %q (want %s)", opt.Confidence, Names(Confidences))
	}
	if c.strategy == stratThreshold && c.Threshold == 0 {
		if c.conf == confEntropy {
			return c, fmt.Errorf("sample: Strategy %s with %s confidence needs a negative Threshold (minus nats)", StrategyThreshold, ConfidenceEntropy)
		}
		c.Threshold = Defaults().Threshold
	}
	switch {
	case opt.Steps < 0:
		return c, fmt.Errorf("sample: Steps %d < 0", opt.Steps)
	case opt.BlockLength < 0:
		return c, fmt.Errorf("sample: BlockLength %d < 0", opt.BlockLength)
	case !(opt.Temperature >= 0) || math.IsInf(opt.Temperature, 0):
		return c, fmt.Errorf("sample: Temperature %v, want a finite value >= 0", opt.Temperature)
	case opt.TopK < 0:
		return c, fmt.Errorf("sample: TopK %d < 0", opt.TopK)
	case !(opt.TopP >= 0):
		return c, fmt.Errorf("sample: TopP %v < 0", opt.TopP)
	case !(opt.CFGScale >= 0) || math.IsInf(opt.CFGScale, 0):
		return c, fmt.Errorf("sample: CFGScale %v, want a finite value >= 0", opt.CFGScale)
	case math.IsNaN(opt.Threshold):
		return c, fmt.Errorf("sample: Threshold is NaN")
	}
	c.mask, c.eot = opt.MaskID, opt.EOTID
	if c.mask == 0 {
		c.mask = int32(v - 1)
	}
	if c.eot == 0 {
		c.eot = int32(v - 2)
	}
	if c.mask < 0 || int(c.mask) >= v {
		return c, fmt.Errorf("sample: MaskID %d outside the vocabulary [0,%d)", c.mask, v)
	}
	if c.eot < 0 || int(c.eot) >= v || c.eot == c.mask {
		return c, fmt.Errorf("sample: EOTID %d outside the vocabulary [0,%d) or equal to MaskID", c.eot, v)
	}
	return c, nil
}
