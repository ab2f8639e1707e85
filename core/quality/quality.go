package quality

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/masked"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// Setting is one sampler configuration: a row of the table and a point of the plot.
type Setting struct {
	Strategy string // one of sample.Strategies, or LeftToRight
	Grid     string // one of sample.Grids; empty for LeftToRight
	// Options are the sampler's options; GenLength and Seed are set per sample by Generate.
	Options sample.Options
	// Window is the model's sequence length: samples longer than it are written chunk by
	// chunk (sample.Long) or, left to right, with a sliding window. 0: no sample may be.
	Window int
	// Model names the model file in the row's name when the table holds several (the
	// continuous rows of ablations); empty: the table's one model.
	Model string
}

// LeftToRight is the Strategy of the autoregressive row: the judge's own samples.
const LeftToRight = "ar"

// Continuous is the Strategy of a continuous diffusion model's row; its Grid is the
// solver (sde or ode) and Options.Steps the denoiser calls.
const Continuous = "continuous"

// Name labels the setting in tables and logs, e.g. "threshold(0.9)/cosine/32".
func (s Setting) Name() string {
	if s.Strategy == LeftToRight {
		return LeftToRight + " (left to right)"
	}
	name := fmt.Sprintf("%s/%s/%d", s.Label(), s.Grid, s.Options.Steps)
	if s.Model != "" {
		name = s.Model + ": " + name
	}
	return name
}

// Label is the strategy with its parameter: "threshold(0.9)", "semi-ar(16)", "random".
func (s Setting) Label() string {
	switch s.Strategy {
	case sample.StrategyThreshold:
		tau := s.Options.Threshold
		if tau == 0 {
			tau = sample.Defaults().Threshold // what the sampler uses for 0
		}
		return fmt.Sprintf("%s(%g)", s.Strategy, tau)
	case sample.StrategySemiAR:
		return fmt.Sprintf("%s(%d)", s.Strategy, s.Options.BlockLength)
	}
	return s.Strategy
}

// Samples are the sequences generated for one setting and what they cost.
type Samples struct {
	Tokens  [][]int32 // each sample's generated tokens
	NFE     int       // network calls, all samples together
	Seconds float64   // wall time of the sampling, all samples together
}

// Generate draws count unconditional samples of n tokens (from an all-MASK sequence, or
// left to right from EOT for Strategy LeftToRight), sample i with seed seed+i; done, when set, is
// called after each one.
func Generate(d sample.Denoiser, s Setting, n, count int, seed uint64, done func()) (Samples, error) {
	var out Samples
	for i := range count {
		opt := s.Options
		opt.GenLength, opt.Seed = n, seed+uint64(i)
		start := time.Now()
		var r sample.Result
		var err error
		switch {
		case s.Strategy == LeftToRight:
			r, err = sample.Autoregressive(d, nil, n, s.Window, opt)
		case s.Window > 0:
			r, err = sample.Long(d, s.Window, 0, nil, opt)
		default:
			r, err = sample.Sample(d, nil, opt)
		}
		out.Seconds += time.Since(start).Seconds()
		if err != nil {
			return Samples{}, fmt.Errorf("%s, sample %d: %w", s.Name(), i, err)
		}
		out.Tokens = append(out.Tokens, slices.Clone(r.Generated))
		out.NFE += r.NFE
		if done != nil {
			done()
		}
	}
	return out, nil
}

// GenerateContinuous is Generate for a continuous diffusion model: count unconditional
// samples of n tokens (n at most the model's window), s.Options.Steps denoiser calls each
// with solver s.Grid, sample i with seed seed+i. NFE counts the denoiser's calls.
func GenerateContinuous(m *continuous.Model, s Setting, n, count int, seed uint64, done func()) (Samples, error) {
	var out Samples
	tmpl := make([]int32, n)
	for i := range tmpl {
		tmpl[i] = s.Options.MaskID
	}
	for i := range count {
		start := time.Now()
		r, err := m.Sample(tmpl, s.Options.MaskID, continuous.Options{Steps: s.Options.Steps, Solver: s.Grid, Seed: seed + uint64(i)})
		out.Seconds += time.Since(start).Seconds()
		if err != nil {
			return Samples{}, fmt.Errorf("%s, sample %d: %w", s.Name(), i, err)
		}
		out.Tokens = append(out.Tokens, r.Tokens)
		out.NFE += r.DenoiserCalls
		if done != nil {
			done()
		}
	}
	return out, nil
}

// NLL returns the negative log-likelihood (nats) of every token of every sequence under a
// causal judge: sequence i is read after the single context token prev[i] (the input is
// [prev[i], seq[:len-1]], the targets seq), so no sequence sees another. A sequence longer
// than the judge's window L is read window by window: the first window scores its first L
// tokens, and each later one scores the next L/2 tokens (fewer at the end) with the L/2
// tokens before them as context, so every token after the first window is predicted from
// at least L/2 tokens of its own sequence. Windows of equal length go through the network
// batch at a time.
func NLL(judge *model.Model, seqs [][]int32, prev []int32, batch int) ([][]float64, error) {
	c := judge.Cfg
	if !c.Causal {
		return nil, fmt.Errorf("quality: the judge must be a causal (autoregressive) model; a bidirectional one sees the tokens it scores")
	}
	if len(prev) != len(seqs) {
		return nil, fmt.Errorf("quality: %d context tokens for %d sequences", len(prev), len(seqs))
	}
	batch = max(batch, 1)
	V := c.Vocab
	inRange := func(t int32) bool { return t >= 0 && int(t) < V }
	out := make([][]float64, len(seqs))
	byLen := map[int][]window{} // input length -> windows, in order
	var lens []int
	for i, s := range seqs {
		if !inRange(prev[i]) {
			return nil, fmt.Errorf("quality: context token %d of sequence %d outside the judge's vocabulary of %d", prev[i], i, V)
		}
		for j, t := range s {
			if !inRange(t) {
				return nil, fmt.Errorf("quality: token %d at position %d of sequence %d outside the judge's vocabulary of %d", t, j, i, V)
			}
		}
		out[i] = make([]float64, len(s))
		for _, w := range windows(i, len(s), c.SeqLen) {
			if _, ok := byLen[w.n]; !ok {
				lens = append(lens, w.n)
			}
			byLen[w.n] = append(byLen[w.n], w)
		}
	}
	target := make([]int32, 1)
	for _, L := range lens {
		ws := byLen[L]
		for lo := 0; lo < len(ws); lo += batch {
			group := ws[lo:min(lo+batch, len(ws))]
			B := len(group)
			ids := make([]int32, 0, B*L) // (B, L)
			for _, w := range group {
				if w.start == 0 {
					ids = append(append(ids, prev[w.seq]), seqs[w.seq][:L-1]...)
				} else {
					ids = append(ids, seqs[w.seq][w.start-1:w.start+L-1]...)
				}
			}
			logits := judge.Forward(ids, B) // (B*L, V)
			for b, w := range group {
				for j := w.from; j < L; j++ {
					row := (b*L + j) * V
					target[0] = seqs[w.seq][w.start+j]
					out[w.seq][w.start+j] = masked.CrossEntropy(logits[row:row+V], target, V)
				}
			}
		}
	}
	return out, nil
}

// window is one judge call's share of a sequence: it predicts tokens start..start+n-1 of
// sequence seq and keeps the scores of those from start+from on (the rest is context).
type window struct{ seq, start, n, from int }

// windows splits a sequence of n tokens into the judge calls NLL makes for it (window L).
func windows(seq, n, L int) []window {
	if n == 0 {
		return nil
	}
	if n <= L {
		return []window{{seq: seq, n: n}}
	}
	out := []window{{seq: seq, n: L}}
	ctx := L - L/2
	for done := L; done < n; done += L / 2 {
		k := min(L/2, n-done)
		out = append(out, window{seq: seq, start: done - ctx, n: ctx + k, from: ctx})
	}
	return out
}

// Row is one line of the quality table.
type Row struct {
	Name      string  `json:"name"`
	Strategy  string  `json:"strategy"` // with its parameter, as Setting.Label
	Grid      string  `json:"grid,omitempty"`
	Model     string  `json:"model,omitempty"` // Setting.Model: which of the table's models, when it holds several
	Steps     int     `json:"steps"`           // steps asked for (a maximum for threshold)
	Samples   int     `json:"samples"`
	Tokens    int     `json:"tokens"`       // tokens scored, all samples together
	JudgePPL  float64 `json:"judge_ppl"`    // the judge's perplexity, token-weighted over all samples
	JudgeSE   float64 `json:"judge_ppl_se"` // its standard error (delta method over the per-sample mean NLLs)
	Distinct1 float64 `json:"distinct1"`
	Distinct2 float64 `json:"distinct2"`
	Distinct3 float64 `json:"distinct3"`
	Memorised float64 `json:"memorised"` // share of 8-grams found in the training books
	Grams     int     `json:"grams"`     // 8-grams checked
	// NFEPerToken is network calls per generated token; NFEPerSample the mean calls per
	// sample. Both 0 for the reference.
	NFEPerToken      float64 `json:"nfe_per_token"`
	NFEPerSample     float64 `json:"nfe_per_sample"`
	SecondsPerSample float64 `json:"seconds_per_sample"` // wall time
	// CPUSecondsPerSample is the process's CPU time per sample, when the caller measured it
	// (0: not measured); on a shared machine it is steadier than the wall time.
	CPUSecondsPerSample float64 `json:"cpu_seconds_per_sample,omitempty"`
	Reference           bool    `json:"reference,omitempty"`
}

// Score fills a row for generated samples: the judge's perplexity with EOT as each sample's
// context, distinct-1/2/3 over the samples, the memorised share of their n-grams in mem (nil:
// not measured), and the cost per token and per sample.
func Score(judge *model.Model, mem *sample.NGramSet, s Setting, smp Samples, eot int32, batch int) (Row, error) {
	prev := make([]int32, len(smp.Tokens))
	for i := range prev {
		prev[i] = eot
	}
	nll, err := NLL(judge, smp.Tokens, prev, batch)
	if err != nil {
		return Row{}, err
	}
	r := Row{Name: s.Name(), Strategy: s.Label(), Grid: s.Grid, Model: s.Model, Steps: s.Options.Steps, Samples: len(smp.Tokens)}
	r.fill(nll, smp.Tokens, mem, len(smp.Tokens))
	if r.Tokens > 0 {
		r.NFEPerToken = float64(smp.NFE) / float64(r.Tokens)
	}
	if r.Samples > 0 {
		r.NFEPerSample = float64(smp.NFE) / float64(r.Samples)
		r.SecondsPerSample = smp.Seconds / float64(r.Samples)
	}
	return r, nil
}

// Reference is the row of real text: the judge's perplexity of windows (each read after
// EOT, as the samples are), their memorised share, and distinct-n averaged over groups of
// perGroup windows, so that it compares with a setting of perGroup samples (distinct-n falls
// as the amount of text grows).
func Reference(judge *model.Model, mem *sample.NGramSet, windows [][]int32, eot int32, perGroup, batch int) (Row, error) {
	prev := make([]int32, len(windows))
	for i := range prev {
		prev[i] = eot
	}
	nll, err := NLL(judge, windows, prev, batch)
	if err != nil {
		return Row{}, err
	}
	r := Row{Name: "reference (real text)", Strategy: "reference", Samples: len(windows), Reference: true}
	r.fill(nll, windows, mem, perGroup)
	return r, nil
}

// fill sets the judge and text metrics; distinct-n is the mean over consecutive groups of
// perGroup sequences (a last, smaller group is left out unless it is the only one).
func (r *Row) fill(nll [][]float64, seqs [][]int32, mem *sample.NGramSet, perGroup int) {
	r.JudgePPL = sample.Perplexity(nll)
	for _, s := range nll {
		r.Tokens += len(s)
	}
	r.JudgeSE = r.JudgePPL * meanSE(nll)
	perGroup = max(perGroup, 1)
	var d [3]float64
	groups := 0
	for lo := 0; lo < len(seqs); lo += perGroup {
		hi := lo + perGroup
		if hi > len(seqs) {
			if groups > 0 {
				break
			}
			hi = len(seqs)
		}
		for n := range 3 {
			d[n] += sample.DistinctN(seqs[lo:hi], n+1)
		}
		groups++
	}
	if groups > 0 {
		r.Distinct1, r.Distinct2, r.Distinct3 = d[0]/float64(groups), d[1]/float64(groups), d[2]/float64(groups)
	}
	if mem != nil {
		r.Memorised, r.Grams = mem.Memorised(seqs)
	}
}

// meanSE is the standard error of the token-weighted mean NLL, treating sequences as the
// independent units (the ratio estimator's delta-method error); 0 with fewer than two.
func meanSE(nll [][]float64) float64 {
	k := 0
	var tot, toks float64
	for _, s := range nll {
		if len(s) > 0 {
			k++
			for _, x := range s {
				tot += x
			}
			toks += float64(len(s))
		}
	}
	if k < 2 {
		return 0
	}
	mean := tot / toks
	nbar := toks / float64(k)
	var ss float64
	for _, s := range nll {
		if len(s) == 0 {
			continue
		}
		var sum float64
		for _, x := range s {
			sum += x
		}
		d := (sum - mean*float64(len(s))) / nbar
		ss += d * d
	}
	return math.Sqrt(ss/float64(k-1)) / math.Sqrt(float64(k))
}
