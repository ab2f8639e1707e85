package train

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/nn"
)

// Objective is what a run trains the network to do: the loss and its gradient on a step's
// batch, the validation loss, and what a checkpoint and a plot say of it. The masked
// diffusion ELBO and the autoregressive baseline implement it; another paradigm is one
// more implementation registered in objectives, not a branch in the trainer.
type Objective interface {
	// Name is the run's config and checkpoint value (Config.Objective).
	Name() string
	// Causal says whether the network attends only to positions on its left.
	Causal() bool
	// Window is the tokens of one batch row for a network of L positions.
	Window(L int) int
	// Check reports what in a run's config this objective cannot train.
	Check(c Config) error
	// Loss runs the network on rows [lo, hi) of the batch x0 (B rows of Window(L) tokens)
	// and returns their loss per token; with grad it also adds the loss's gradient to the
	// network's gradient arena. rng draws the step's random choices for all B rows,
	// whichever ones run, so a row is treated alike however the batch is shared out.
	Loss(t *Trainer, x0 []int32, lo, hi int, rng *rand.Rand, grad bool) float64
	// ValidSum returns the summed loss of the b windows in buf ((b, L) tokens), window i
	// read after the token prev[i]; k numbers the call, so draws can repeat exactly.
	ValidSum(t *Trainer, buf, prev []int32, k int) float64
	// Bound says whether exp(validation loss) bounds the perplexity from above (an ELBO)
	// rather than being it.
	Bound() bool
	// Label is the loss's name on plots.
	Label() string
	// Record adds to a checkpoint or model file what the objective needs beside the
	// network's tensors (the continuous objectives: the encoder, its statistics, the
	// schedule); Restore reads it back into a resumed run.
	Record(t *Trainer, f *checkpoint.File) error
	Restore(t *Trainer, f *checkpoint.File) error
}

// objectives are the known objectives by name.
var objectives = map[string]Objective{"mdm": maskedELBO{}, "ar": nextToken{}, "continuous": latentMSE{}, "decoder": latentDecoder{}}

// ObjectiveByName returns the named objective, or an error naming the known ones.
func ObjectiveByName(name string) (Objective, error) {
	if o, ok := objectives[name]; ok {
		return o, nil
	}
	return nil, fmt.Errorf("objective %q: want %s", name, ObjectiveNames())
}

// ObjectiveNames lists the known objectives for help texts: "ar or mdm".
func ObjectiveNames() string {
	var names []string
	for n := range objectives {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// maskedELBO is masked diffusion's objective: the ELBO of core/masked on rows corrupted by
// the run's noise (schedule, masking, antithetic times).
type maskedELBO struct{}

func (maskedELBO) Name() string     { return "mdm" }
func (maskedELBO) Causal() bool     { return false }
func (maskedELBO) Window(L int) int { return L }
func (maskedELBO) Bound() bool      { return true }
func (maskedELBO) Label() string    { return "masked diffusion: ELBO per token (nats)" }

func (maskedELBO) Check(c Config) error { return tokenNetwork(c) }

func (maskedELBO) Loss(t *Trainer, x0 []int32, lo, hi int, rng *rand.Rand, grad bool) float64 {
	if !grad {
		return t.mdmLoss(x0, rng, lo, hi, nil)
	}
	loss := t.mdmLoss(x0, rng, lo, hi, t.dlogits)
	t.Model.Backward(t.dlogits[:len(t.rows)*t.Cfg.Model.Vocab])
	return loss
}

func (maskedELBO) Record(*Trainer, *checkpoint.File) error  { return nil }
func (maskedELBO) Restore(*Trainer, *checkpoint.File) error { return nil }

// tokenNetwork refuses a latent network for the objectives that read and write tokens.
func tokenNetwork(c Config) error {
	if c.Model.Latent > 0 {
		return fmt.Errorf("the %s objective trains a network over tokens; model.latent is for continuous and decoder", c.Objective)
	}
	return nil
}

// ValidSum draws the masks from (seed, k): the same at every evaluation, so the curve is
// comparable across steps.
func (maskedELBO) ValidSum(t *Trainer, buf, _ []int32, k int) float64 {
	L := t.Cfg.Model.SeqLen
	b := len(buf) / L
	// The loss is per token of the batch; scale back to a sum.
	return t.mdmLoss(buf, rand.New(rand.NewPCG(t.Cfg.Seed, uint64(k))), 0, b, nil) * float64(b*L)
}

// nextToken is the autoregressive baseline's objective: the cross-entropy of each next
// token, on rows of L+1 tokens (the first L the input, the last L the targets).
type nextToken struct{}

func (nextToken) Name() string     { return "ar" }
func (nextToken) Causal() bool     { return true }
func (nextToken) Window(L int) int { return L + 1 }
func (nextToken) Bound() bool      { return false }
func (nextToken) Label() string    { return "autoregressive: NLL per token (nats)" }

func (nextToken) Check(c Config) error                     { return tokenNetwork(c) }
func (nextToken) Record(*Trainer, *checkpoint.File) error  { return nil }
func (nextToken) Restore(*Trainer, *checkpoint.File) error { return nil }

func (nextToken) Loss(t *Trainer, x0 []int32, lo, hi int, _ *rand.Rand, grad bool) float64 {
	L := t.Cfg.Model.SeqLen
	n := hi - lo
	for b := lo; b < hi; b++ {
		i := b - lo
		copy(t.xt[i*L:(i+1)*L], x0[b*(L+1):b*(L+1)+L])
		copy(t.tgt[i*L:(i+1)*L], x0[b*(L+1)+1:(b+1)*(L+1)])
	}
	return t.crossEntropy(t.Model.Forward(t.xt[:n*L], n), t.tgt[:n*L], grad, t.Model.Backward)
}

// crossEntropy is the mean cross-entropy of logits (one row per target) against targets;
// with grad, backward takes its gradient with respect to the logits.
func (t *Trainer) crossEntropy(logits []float32, targets []int32, grad bool, backward func(dlogits []float32)) float64 {
	N, V := len(targets), t.Cfg.Model.Vocab
	var dl []float32
	if grad {
		dl = t.dlogits[:N*V]
	}
	loss := nn.CrossEntropy(dl, logits, targets, N, V, 1/float32(N))
	if grad {
		backward(dl)
	}
	return loss
}

// ValidSum is the exact next-token cross-entropy: window i's input is prev[i] and its first
// L-1 tokens, its targets the L tokens.
func (nextToken) ValidSum(t *Trainer, buf, prev []int32, _ int) float64 {
	L, V := t.Cfg.Model.SeqLen, t.Cfg.Model.Vocab
	b := len(buf) / L
	tg := append([]int32(nil), buf...)
	in := t.xt[:b*L]
	for i := 0; i < b; i++ {
		in[i*L] = prev[i]
		copy(in[i*L+1:(i+1)*L], tg[i*L:(i+1)*L-1])
	}
	return nn.CrossEntropy(nil, t.Model.Forward(in, b), tg, b*L, V, 1)
}
