package engine

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/infill"
	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// Choices is what the page builds its controls from, so that no sampler name or default
// is written in its JS or HTML: the sampler's names (core/sample), how a blank is
// written in infill text (core/infill) and the defaults of a request.
type Choices struct {
	Strategies  []sample.Choice  `json:"strategies"`
	Grids       []sample.Choice  `json:"grids"`
	Confidences []sample.Choice  `json:"confidences"`
	Blank       string           `json:"blank"`       // the spellings of a blank, e.g. "___ or [MASK]"
	BlankLength int              `json:"blankLength"` // tokens per blank by default (Length in infill mode)
	Defaults    Request          `json:"defaults"`    // DefaultRequest
	MaxLength   int              `json:"maxLength"`   // the longest continuation (MaxLength)
	Drafts      []sample.Choice  `json:"drafts"`      // Request.Draft's values, "" (plain) first
	DefaultK    int              `json:"defaultK"`    // drafted steps per target call (sample.DefaultK)
	Continuous  ContinuousChoice `json:"continuous"`  // a continuous model's default steps and its solvers
}

// Drafts are the values of Request.Draft, for the page's speculative switch.
var Drafts = []sample.Choice{
	{Name: "", Label: "Off"},
	{Name: sample.DraftFrozen, Label: "Frozen draft"}, // the hint says what it is
}

// PageChoices returns the page's Choices.
func PageChoices() Choices {
	return Choices{Strategies: sample.Strategies, Grids: sample.Grids, Confidences: sample.Confidences,
		Blank: infill.Spellings, BlankLength: infill.DefaultTokens, Defaults: DefaultRequest(),
		MaxLength: MaxLength, Drafts: Drafts, DefaultK: sample.DefaultK,
		Continuous: ContinuousChoice{Steps: ContinuousSteps, Solvers: continuous.Solvers}}
}

// ChoicesJSON is PageChoices as JSON, for the JS side.
func ChoicesJSON() string {
	b, _ := json.Marshal(PageChoices())
	return string(b)
}

// DefaultRequest is what a request from the page holds before its own fields: the
// sampler's settings are sample.Defaults, the command line's too (BlockLength and
// Threshold 0 leave them to the strategy: sample.DefaultBlock and the sampler's
// threshold). Length and Steps are the page's: 48 tokens in 32 steps, fewer network calls
// than the command's one per token, because a browser's CPU is slower. The text ends at
// the first end-of-text token the model writes.
func DefaultRequest() Request {
	d := sample.Defaults()
	return Request{Mode: "continue", Length: 48, Steps: 32, Strategy: d.Strategy, Grid: d.Grid,
		Confidence: d.Confidence, Temperature: d.Temperature, TopK: d.TopK, TopP: d.TopP, StopAtEOT: true}
}

// ParseRequest reads a request's JSON over DefaultRequest, so a field the page leaves
// out has its default (Length: the mode's, infill.DefaultTokens per blank in infill
// mode); a field the engine does not know is an error.
func ParseRequest(b []byte) (Request, error) {
	r := DefaultRequest()
	r.Length = 0 // given or not: the default depends on the mode
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("request: %w", err)
	}
	if r.Length == 0 {
		r.Length = DefaultRequest().Length
		if r.Mode == "infill" {
			r.Length = infill.DefaultTokens
		}
	}
	return r, nil
}

// options is the sampler's options for a request.
func (r Request) options() sample.Options {
	opt := sample.Options{
		Steps: r.Steps, Strategy: r.Strategy, Grid: r.Grid, Confidence: r.Confidence,
		Temperature: r.Temperature, TopK: r.TopK, TopP: r.TopP, BlockLength: r.BlockLength,
		Threshold: r.Threshold, Seed: r.Seed,
	}
	if opt.BlockLength == 0 {
		opt.BlockLength = sample.DefaultBlock(r.Strategy)
	}
	return opt
}
