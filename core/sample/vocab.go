package sample

import (
	"fmt"
	"strings"
)

// The names of the sampler's settings are written here and nowhere else: Options reads
// them, the commands (core/cmd/sample, core/cmd/quality) check flags against the lists,
// and the page builds its menus from the same lists, which core/engine hands it.
const (
	StrategyLowConfidence = "low-confidence"
	StrategyRandom        = "random"
	StrategySemiAR        = "semi-ar"
	StrategyThreshold     = "threshold"

	GridCosine = "cosine"
	GridLinear = "linear"

	ConfidenceProb    = "prob"
	ConfidenceEntropy = "entropy"
	ConfidenceMargin  = "margin"
)

// Choice is one value of a setting, with a few words for a menu.
type Choice struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

// Strategies, Grids and Confidences are the values of Options.Strategy, .Grid and
// .Confidence, in menu order. Read them; never change them.
var (
	Strategies = []Choice{
		{StrategySemiAR, "In blocks"}, // left to right, surest first in each block
		{StrategyLowConfidence, "Surest first"},
		{StrategyRandom, "Random"},
		{StrategyThreshold, fmt.Sprintf("Everything above %.0f%% (fast)", 100*Defaults().Threshold)},
	}
	Grids = []Choice{
		{GridCosine, "Few tokens at both ends, most in the middle"},
		{GridLinear, "The same number each step"},
	}
	Confidences = []Choice{
		{ConfidenceProb, "Probability"},
		{ConfidenceEntropy, "Minus the entropy"},
		{ConfidenceMargin, "Top-1 minus top-2 probability"},
	}
)

// Defaults returns the sampler settings that core/cmd/sample, the page and its widget
// start from. They come from core/cmd/quality on the demo model (core/cmd/quality/
// RESULTS.md, temperature 0.8 with top-p 0.9): low-confidence decoding scores the lowest
// judge perplexity (8.7) but repeats itself (distinct-2 0.35, 10.1% of its 8-grams copied
// from the training books), random order is closest to real text's statistics (57.7,
// distinct-2 0.81), and semi-autoregressive blocks of 8 sit between (20.0, distinct-2
// 0.63, 1.5% copied) and read best in the samples. BlockLength is the block of
// StrategySemiAR (see DefaultBlock); Steps 0 is one step per token.
func Defaults() Options {
	return Options{Strategy: StrategySemiAR, Grid: GridCosine, Confidence: ConfidenceProb,
		Temperature: 0.8, TopP: 0.9, BlockLength: 8, Threshold: 0.9}
}

// DefaultBlock is the block length a strategy samples with when none is asked for:
// Defaults' block for StrategySemiAR, which needs one, and 0 (one block) for the others.
func DefaultBlock(strategy string) int {
	if strategy == StrategySemiAR {
		return Defaults().BlockLength
	}
	return 0
}

// Names lists the choices' names for a message or a help text: "a, b or c".
func Names(choices []Choice) string {
	var b strings.Builder
	for i, c := range choices {
		switch {
		case i == 0:
		case i == len(choices)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(c.Name)
	}
	return b.String()
}

// NameList is the choices' names joined by commas, as a list flag takes them.
func NameList(choices []Choice) string {
	names := make([]string, len(choices))
	for i, c := range choices {
		names[i] = c.Name
	}
	return strings.Join(names, ",")
}

// Check returns nil when name is one of choices, and otherwise an error that names the
// setting (what, e.g. "-strategy") and the values it takes.
func Check(what, name string, choices []Choice) error {
	for _, c := range choices {
		if c.Name == name {
			return nil
		}
	}
	return fmt.Errorf("%s %q: want %s", what, name, Names(choices))
}

// DraftFrozen names the frozen draft of speculative sampling (SpecOptions.Draft nil): the
// target's own latest output reused for the next K steps, at no cost. DefaultK is the
// drafted steps per verification that the command line and the page start from.
const (
	DraftFrozen = "frozen"
	DefaultK    = 4
)
