package train

import (
	"errors"
	"fmt"

	"github.com/austen-diffusion/textdiffusion/core/masked"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

// Config is everything that defines a run; it is saved in every checkpoint so -resume
// needs no flags.
type Config struct {
	Model     model.Config `json:"model"`
	Objective string       `json:"objective"` // an Objective's name: "mdm" (masked diffusion), "ar" (autoregressive baseline), "continuous" or "decoder" (continuous diffusion)

	// Masked diffusion only.
	Schedule               string `json:"schedule"`                  // linear | cosine | loglinear
	Antithetic             bool   `json:"antithetic"`                // low-discrepancy times across the batch (MDLM)
	SingleRatioPerSequence bool   `json:"single_ratio_per_sequence"` // true: one ratio for the whole batch (ablation only)
	DivideByMasked         bool   `json:"divide_by_masked"`          // true: the wrong normaliser (ablation only)
	Masking                string `json:"masking,omitempty"`         // "bernoulli" ("" too: each token with prob 1-alpha(t)) or "count" (exactly l ~ U{1..L}, weight L/l)

	// Continuous diffusion only: "continuous" trains the denoiser, "decoder" the decoder,
	// both on the latents of a frozen encoder (carried in every checkpoint).
	Encoder           string  `json:"encoder,omitempty"`        // the encoder's file and SHA-256 (a record: its weights travel in the checkpoints)
	Latents           string  `json:"latents,omitempty"`        // contextual (the encoder's hidden states) or embeddings (its token embeddings)
	NoiseScheduleName string  `json:"noise_schedule,omitempty"` // tan-d ("" too), cosine or sqrt
	TanD              float64 `json:"tan_d,omitempty"`          // tan-d's d (0: 9)
	Prompted          float64 `json:"prompted,omitempty"`       // denoiser: share of sequences that keep a clean prompt (prefix and suffix rows, time 0)
	DecoderTMax       float64 `json:"decoder_t_max,omitempty"`  // decoder: t ~ U[0, this] (0: clean latents)

	Batch       int     `json:"batch"`        // sequences per step
	Steps       int     `json:"steps"`        // total optimizer steps
	LR          float64 `json:"lr"`           // peak learning rate
	MinLR       float64 `json:"min_lr"`       // floor of the cosine decay
	Warmup      int     `json:"warmup"`       // linear warm-up steps
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled decay on matrices
	Clip        float64 `json:"clip"`         // global gradient-norm clip (0: off)
	Seed        uint64  `json:"seed"`         // init, batches and masks all derive from it

	// Residual dropout (model.Dropout) with probability Dropout from step DropoutStart on.
	// A late start (no dropout while the model underfits, dropout once it overfits) is
	// Liu et al.'s "late dropout" (2023); 0 and 0 is plain dropout from the first step.
	Dropout      float64 `json:"dropout,omitempty"`
	DropoutStart int     `json:"dropout_start,omitempty"`

	// Tail averaging: the run's final weights (ModelFile) are the mean of the weights after
	// steps AverageFrom, AverageFrom+AverageEvery, ... (0: off). Averaging the late iterates
	// of a run (SWA, Izmailov et al. 2018; LAWA, Kaddour 2022) cancels some of their noise;
	// the last weights are kept beside it (LastModelFile).
	AverageFrom  int `json:"average_from,omitempty"`
	AverageEvery int `json:"average_every,omitempty"` // 0: 100

	Init string `json:"init,omitempty"` // warm start: the model file the weights came from and its SHA-256 (empty: random init)

	EvalEvery       int `json:"eval_every"`       // steps between validation passes (0: only at the end)
	EvalTokens      int `json:"eval_tokens"`      // validation tokens used during training
	CheckpointEvery int `json:"checkpoint_every"` // steps between checkpoints
}

// Default is the demo run: the released models' size and schedule.
func Default() Config {
	return Config{
		Model: model.Demo(), Objective: "mdm", Schedule: "linear", Antithetic: true,
		Batch: 16, Steps: 3000, LR: 1e-3, MinLR: 1e-4, Warmup: 100, WeightDecay: 0.1, Clip: 1,
		Seed: 1, EvalEvery: 250, EvalTokens: 16384, CheckpointEvery: 100,
	}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	if err := c.Model.Validate(); err != nil {
		return err
	}
	obj, err := ObjectiveByName(c.Objective)
	if err != nil {
		return err
	}
	if c.Model.Causal != obj.Causal() {
		return fmt.Errorf("model.causal is %v; the %s objective trains a network with causal %v", c.Model.Causal, obj.Name(), obj.Causal())
	}
	if err := obj.Check(c); err != nil {
		return err
	}
	if _, err := masked.ScheduleByName(c.Schedule); err != nil {
		return err
	}
	if c.Masking != "" && c.Masking != "bernoulli" && c.Masking != "count" {
		return fmt.Errorf("masking %q: want bernoulli or count", c.Masking)
	}
	switch {
	case c.Batch <= 0 || c.Steps <= 0:
		return errors.New("batch and steps must be positive")
	case c.LR <= 0 || c.MinLR < 0 || c.MinLR > c.LR:
		return fmt.Errorf("learning rates: need 0 <= min_lr (%g) <= lr (%g), lr > 0", c.MinLR, c.LR)
	case c.Dropout < 0 || c.Dropout >= 1 || c.DropoutStart < 0:
		return fmt.Errorf("dropout %g from step %d: need 0 <= dropout < 1 and a step >= 0", c.Dropout, c.DropoutStart)
	case c.AverageFrom < 0 || c.AverageEvery < 0:
		return errors.New("average_from and average_every must not be negative")
	case c.Warmup < 0 || c.EvalEvery < 0 || c.CheckpointEvery < 0 || c.EvalTokens < 0:
		return errors.New("warmup, eval_every, checkpoint_every and eval_tokens must not be negative")
	}
	return nil
}

// Noise returns the masked-diffusion forward-process settings of the run.
func (c Config) Noise() masked.NoiseConfig {
	s, _ := masked.ScheduleByName(c.Schedule)
	n := masked.DefaultNoiseConfig()
	n.Schedule, n.Antithetic = s, c.Antithetic
	n.SingleRatioPerSequence, n.DivideByMasked = c.SingleRatioPerSequence, c.DivideByMasked
	n.ExactCount = c.Masking == "count"
	return n
}
