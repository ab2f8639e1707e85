package train

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/dist"
	"github.com/austen-diffusion/textdiffusion/core/masked"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/optim"
)

// BatchFunc fills dst (B, n) with the training batch of a step; it must be a pure function
// of step so that a resumed run sees the same data as an uninterrupted one.
type BatchFunc func(step int, dst []int32, B, n int)

// Trainer runs the optimisation. Everything random derives from (Config.Seed, step), so
// the state to save is the weights, the AdamW moments and the step number.
type Trainer struct {
	Cfg   Config
	Model *model.Model
	Opt   *optim.AdamW
	Step  int    // steps done
	Tok   []byte // tokenizer.json, carried into every checkpoint

	// AvgSum is the sum of the weights at the averaged steps so far (Config.AverageFrom),
	// AvgN their number; float32 like the weights, saved with them, so a resumed run's
	// average is the same to the bit.
	AvgSum []float32
	AvgN   int

	// Comm is the job of data-parallel training (SetComm; nil: one process). Each of its
	// ranks trains on its share of every global batch and all apply the same update.
	Comm dist.Comm

	// Space is a continuous run's latent space (SetSpace), Decoder the decoder a denoiser
	// run's files carry; nil for the token objectives.
	Space   *continuous.Space
	Decoder *model.Model

	obj     Objective // Cfg.Objective's
	lat     *latentBufs
	batch   BatchFunc
	noise   masked.NoiseConfig
	x0, xt  []int32
	tgt     []int32
	rows    []int32 // the masked positions of xt, the only rows the head runs on (mdm)
	dlogits []float32
}

// Objective is what the run trains for (its Cfg.Objective).
func (t *Trainer) Objective() Objective { return t.obj }

// Stats is what one step reports.
type Stats struct {
	Step     int     // steps done after this one
	Loss     float64 // training loss per token (mdm: the weighted ELBO term; ar: next-token CE)
	LR       float64
	GradNorm float64 // before clipping
}

// New starts a run from freshly initialised weights.
func New(cfg Config, tok []byte, batch BatchFunc) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := model.New(cfg.Model, cfg.Seed)
	if err != nil {
		return nil, err
	}
	return newTrainer(cfg, m, tok, batch), nil
}

// NewFrom starts a run (fresh optimizer, step 0) from the weights of m, whose Config must be
// cfg.Model: a warm start that continues training a released model under a new schedule.
func NewFrom(cfg Config, m *model.Model, tok []byte, batch BatchFunc) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m.Cfg != cfg.Model {
		return nil, fmt.Errorf("initial weights are %+v, the run wants %+v", m.Cfg, cfg.Model)
	}
	return newTrainer(cfg, m, tok, batch), nil
}

func newTrainer(cfg Config, m *model.Model, tok []byte, batch BatchFunc) *Trainer {
	// cfg is validated, so its objective is known.
	t := &Trainer{Cfg: cfg, Model: m, Tok: tok, obj: objectives[cfg.Objective], batch: batch, noise: cfg.Noise()}
	t.Opt = optim.NewAdamW(len(m.Params), decayRanges(cfg.Model), cfg.WeightDecay)
	B, L, V := cfg.Batch, cfg.Model.SeqLen, cfg.Model.Vocab
	t.x0, t.xt, t.tgt = make([]int32, B*(L+1)), make([]int32, B*L), make([]int32, B*L)
	t.dlogits = make([]float32, B*L*V)
	return t
}

// decayRanges puts weight decay on every matrix and none on the norm gains.
func decayRanges(c model.Config) []optim.Range {
	var r []optim.Range
	off := 0
	for _, s := range c.Specs() {
		n := s.Size()
		r = append(r, optim.Range{Lo: off, Hi: off + n, Decay: len(s.Shape) > 1})
		off += n
	}
	return r
}

// SetBatchFunc sets the source of training batches (Resume leaves it to the caller when
// it passes nil).
func (t *Trainer) SetBatchFunc(b BatchFunc) { t.batch = b }

// averagedStep reports whether the weights after step join the tail average.
func (t *Trainer) averagedStep(step int) bool {
	c := t.Cfg
	every := c.AverageEvery
	if every == 0 {
		every = 100
	}
	return c.AverageFrom > 0 && step >= c.AverageFrom && (step-c.AverageFrom)%every == 0
}

// Averaged returns the tail average of the weights as a new model, or nil before the
// first averaged step.
func (t *Trainer) Averaged() *model.Model {
	if t.AvgN == 0 {
		return nil
	}
	m, _ := model.Empty(t.Model.Cfg)
	inv := 1 / float32(t.AvgN)
	for i, v := range t.AvgSum {
		m.Params[i] = v * inv
	}
	return m
}

// SetAverage changes the tail averaging of a resumed run; like SetDropout it refuses to
// rewrite steps already taken (an average that should already have started).
func (t *Trainer) SetAverage(from, every int) error {
	c := t.Cfg
	c.AverageFrom, c.AverageEvery = from, every
	if err := c.Validate(); err != nil {
		return err
	}
	if t.AvgN > 0 || (from > 0 && from <= t.Step) {
		return fmt.Errorf("averaging from step %d: the run is at step %d with %d weights averaged; start after the current step", from, t.Step, t.AvgN)
	}
	t.Cfg = c
	return nil
}

// SetDropout changes the dropout of the rest of a resumed run. It refuses a change that
// would rewrite steps already taken (old or new dropout starting before the current
// step), so the saved config still describes every step: a run with no dropout until
// step k that turns it on at k is the run that "-dropout p -dropout-start k" makes.
func (t *Trainer) SetDropout(p float64, start int) error {
	c := t.Cfg
	if c.Dropout == p && c.DropoutStart == start {
		return nil
	}
	if (c.Dropout > 0 && c.DropoutStart < t.Step) || (p > 0 && start < t.Step) {
		return fmt.Errorf("dropout %g from step %d (was %g from %d): the run is at step %d, and steps taken cannot change; start at %d or later",
			p, start, c.Dropout, c.DropoutStart, t.Step, t.Step)
	}
	c.Dropout, c.DropoutStart = p, start
	if err := c.Validate(); err != nil {
		return err
	}
	t.Cfg = c
	return nil
}

// Schedule is the run's learning-rate schedule.
func (t *Trainer) Schedule() optim.Schedule {
	return optim.Schedule{Max: t.Cfg.LR, Min: t.Cfg.MinLR, Warmup: t.Cfg.Warmup, Total: t.Cfg.Steps}
}

// rng returns the generator of a step's random choices (masks and times).
func (t *Trainer) rng(step int, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(t.Cfg.Seed^0x9e3779b97f4a7c15, uint64(step)<<8|stream))
}

// TrainStep does one optimizer step.
func (t *Trainer) TrainStep() Stats {
	c := t.Cfg
	B, L := c.Batch, c.Model.SeqLen
	lo, hi := t.share()
	if c.Dropout > 0 && t.Step >= c.DropoutStart {
		t.Model.Drop = model.Dropout{P: float32(c.Dropout), Rng: t.dropoutRng(t.Step)}
	}
	W := t.obj.Window(L)
	t.batch(t.Step, t.x0[:B*W], B, W)
	t.Model.ZeroGrad()
	loss := t.obj.Loss(t, t.x0[:B*W], lo, hi, t.rng(t.Step, 1), true)
	t.Model.Drop = model.Dropout{}
	loss = t.reduce(loss)
	norm := optim.ClipGradNorm(t.Model.Grads, c.Clip)
	lr := t.Schedule().At(t.Step)
	t.Opt.Update(t.Model.Params, t.Model.Grads, lr)
	t.Step++
	if t.averagedStep(t.Step) {
		if t.AvgSum == nil {
			t.AvgSum = make([]float32, len(t.Model.Params))
		}
		for i, v := range t.Model.Params {
			t.AvgSum[i] += v
		}
		t.AvgN++
	}
	return Stats{Step: t.Step, Loss: loss, LR: lr, GradNorm: norm}
}

// mdmLoss corrupts x0 (B, L) with times drawn from rng, runs the network on sequences
// [lo, hi) and returns their ELBO loss per token, writing its gradient into dlogits when
// not nil. The times and masks are drawn for all B sequences, whichever ones run, so a
// sequence is corrupted alike on every rank count. The head runs on the masked rows of
// [lo, hi) only (t.rows), so the gradient is theirs: (len(t.rows), V).
func (t *Trainer) mdmLoss(x0 []int32, rng *rand.Rand, lo, hi int, dlogits []float32) float64 {
	c := t.Cfg
	L, V := c.Model.SeqLen, c.Model.Vocab
	B, n := len(x0)/L, hi-lo
	xt := t.xt[:B*L]
	times := masked.Draw(rng, x0, B, L, t.noise, c.Model.MaskID(), xt)
	xs := xt[lo*L : hi*L]
	t.rows = masked.MaskedRows(t.rows, xs, c.Model.MaskID())
	logits := t.Model.ForwardRows(xs, n, t.rows)
	if dlogits != nil {
		dlogits = dlogits[:len(t.rows)*V]
	}
	loss, _ := masked.LossRows(logits, t.rows, x0[lo*L:hi*L], xs, n, L, V, times[lo:hi], t.noise, c.Model.MaskID(), dlogits)
	return loss
}

// Validate estimates the validation loss per token on windows (each of SeqLen tokens,
// window i preceded by the token prev[i], EOT for the first) with the objective's
// ValidSum: mdm a Monte-Carlo ELBO with fixed seeds, ar the exact next-token
// cross-entropy. It does not change the training state.
func (t *Trainer) Validate(windows [][]int32, prev []int32) float64 {
	c := t.Cfg
	B, L := c.Batch, c.Model.SeqLen
	var sum float64
	var n int
	buf := make([]int32, 0, B*L)
	flush := func(k int) {
		if len(buf) == 0 {
			return
		}
		b := len(buf) / L
		var p []int32 // the windows' previous tokens (the masked objective has no use for them)
		if prev != nil {
			p = prev[k-b : k]
		}
		sum += t.obj.ValidSum(t, buf, p, k)
		n += b * L
		buf = buf[:0]
	}
	for k, w := range windows {
		buf = append(buf, w...)
		if len(buf) == B*L {
			flush(k + 1)
		}
	}
	flush(len(windows))
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// ValidateWeights is Validate for other weights of the same network (the tail average):
// it swaps them in for the call and restores the run's own.
func (t *Trainer) ValidateWeights(params []float32, windows [][]int32, prev []int32) float64 {
	own := append([]float32(nil), t.Model.Params...)
	copy(t.Model.Params, params)
	defer copy(t.Model.Params, own)
	return t.Validate(windows, prev)
}

// state is the training state stored in a checkpoint beside weights and moments.
type state struct {
	Config  Config `json:"config"`
	Step    int    `json:"step"`
	AdamT   int    `json:"adam_step"`
	RNG     string `json:"rng"` // documentation: every random draw derives from (seed, step)
	DataPos int    `json:"data_position"`
	AvgN    int    `json:"average_n,omitempty"` // weights summed in the "average.sum" tensor
}

// File returns the full training checkpoint: weights, AdamW moments and state.
func (t *Trainer) File() *checkpoint.File {
	f := t.ModelFile(t.Model)
	n := len(t.Model.Params)
	f.Tensors = append(f.Tensors,
		checkpoint.Tensor{Name: "optim.m", Shape: []int{n}, DType: checkpoint.F32, F32: t.Opt.M},
		checkpoint.Tensor{Name: "optim.v", Shape: []int{n}, DType: checkpoint.F32, F32: t.Opt.V})
	if t.AvgN > 0 {
		f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: "average.sum", Shape: []int{n}, DType: checkpoint.F32, F32: t.AvgSum})
	}
	st, _ := json.Marshal(state{Config: t.Cfg, Step: t.Step, AdamT: t.Opt.Step, RNG: "pcg(seed, step)", DataPos: t.Step, AvgN: t.AvgN})
	f.State = st
	return f
}

// ModelFile is the file of weights m of this run's network (its own, or their tail
// average): the tensors, the tokenizer, the objective's name and what the objective
// records beside them.
func (t *Trainer) ModelFile(m *model.Model) *checkpoint.File {
	f := m.ToFile(t.Tok)
	f.Notes = map[string]string{"kind": t.Cfg.Objective, "objective": t.Cfg.Objective}
	if err := t.obj.Record(t, f); err != nil {
		panic("train: " + err.Error()) // SetSpace checked what Record needs
	}
	return f
}

// Save writes the training checkpoint atomically.
func (t *Trainer) Save(path string) error { return checkpoint.Save(path, t.File()) }

// Resume continues a run from a training checkpoint. steps > 0 overrides the total step
// count (to extend a finished run); the schedule then stretches accordingly.
func Resume(path string, batch BatchFunc, steps int) (*Trainer, error) {
	f, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	return ResumeFile(f, path, batch, steps)
}

// ResumeFile is Resume from a decoded checkpoint (path names it in errors): the ranks of
// a data-parallel job resume from the bytes rank 0 read and broadcast.
func ResumeFile(f *checkpoint.File, path string, batch BatchFunc, steps int) (*Trainer, error) {
	var st state
	if len(f.State) == 0 {
		return nil, fmt.Errorf("%s: not a training checkpoint (no optimizer state); start a new run or use it for eval/sample", path)
	}
	if err := json.Unmarshal(f.State, &st); err != nil {
		return nil, fmt.Errorf("%s: training state: %w", path, err)
	}
	if steps > 0 {
		st.Config.Steps = steps
	}
	if err := st.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := model.FromFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := newTrainer(st.Config, m, f.Tokenizer, batch)
	// Each saved arena and where it goes; the average's sum only once averaging has begun.
	arenas := map[string][]float32{"optim.m": t.Opt.M, "optim.v": t.Opt.V}
	if st.AvgN > 0 {
		t.AvgSum, t.AvgN = make([]float32, len(m.Params)), st.AvgN
		arenas["average.sum"] = t.AvgSum
	}
	for name, dst := range arenas {
		ten := f.Tensor(name)
		if ten == nil || ten.Len() != len(m.Params) {
			return nil, fmt.Errorf("%s: %w: %s missing or wrong size", path, checkpoint.ErrShape, name)
		}
		v, err := ten.Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		copy(dst, v)
	}
	t.Step, t.Opt.Step = st.Step, st.AdamT
	if err := t.obj.Restore(t, f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
