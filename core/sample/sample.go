package sample

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Result is one sampled sequence.
type Result struct {
	// IDs is the whole sequence: the given tokens and the sampled ones, truncated when
	// Options.StopAtEOT asks.
	IDs []int32
	// Generated holds the sampled tokens (the input's MASK positions) of IDs, in order; for
	// Sample it is IDs[len(prompt):].
	Generated []int32
	// NFE is the exact number of Denoiser.Logits calls (cache hits excluded; two per step
	// under guidance).
	NFE int
	// Steps is the number of steps that committed tokens.
	Steps int
}

// Sample generates opt.GenLength tokens after prompt: Infill on [prompt, MASK x GenLength].
// The prompt may not contain MASK (use Infill for that).
func Sample(d Denoiser, prompt []int32, opt Options) (Result, error) {
	if opt.GenLength <= 0 {
		return Result{}, fmt.Errorf("sample: GenLength %d, want > 0", opt.GenLength)
	}
	mask := opt.MaskID
	if mask == 0 {
		mask = int32(d.Vocab() - 1)
	}
	if i := slices.Index(prompt, mask); i >= 0 {
		return Result{}, fmt.Errorf("sample: prompt holds MASK at position %d; use Infill", i)
	}
	ids := make([]int32, len(prompt)+opt.GenLength)
	copy(ids, prompt)
	for i := len(prompt); i < len(ids); i++ {
		ids[i] = mask
	}
	return Infill(d, ids, opt)
}

// Infill samples every MASK position of ids (any pattern: a suffix, middle spans, all of
// it); the other positions are given and never change. ids itself is not modified.
func Infill(d Denoiser, ids []int32, opt Options) (Result, error) {
	c, err := resolve(opt, d.Vocab())
	if err != nil {
		return Result{}, err
	}
	s := &sampler{
		c:     &c,
		x:     slices.Clone(ids),
		given: make([]bool, len(ids)),
		eval:  newEvaluator(d),
		sc:    newScorer(&c),
		rng:   rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
	}
	var holes []int // the masked positions, increasing
	for i, t := range ids {
		if t < 0 || int(t) >= c.v {
			return Result{}, fmt.Errorf("sample: token %d at position %d outside the vocabulary [0,%d)", t, i, c.v)
		}
		if t == c.mask {
			holes = append(holes, i)
		} else {
			s.given[i] = true
		}
	}
	if len(holes) > 0 {
		if err := s.run(holes); err != nil {
			return Result{}, err
		}
	}
	return s.result(holes), nil
}

// sampler is the state of one reverse process. Its parts are kept apart for the speculative
// sampler to come: it will hold a second evaluator for the draft model (each evaluator counts
// its own NFE), reuse scorer for the draft's candidates and probabilities, and replace step
// with a draft-then-verify step over the same sequence, grid and blocks.
type sampler struct {
	c      *config
	x      []int32 // (L) the current sequence
	given  []bool  // (L) the input's non-MASK positions
	eval   *evaluator
	sc     *scorer
	rng    *rand.Rand
	steps  int
	uncond []int32 // (L) scratch for the unguided input
	elig   []int   // scratch: the positions a step may commit
	cand   []int32 // scratch, parallel to elig
	conf   []float64
	order  []int
}

// run walks the blocks; holes are the masked positions, increasing.
func (s *sampler) run(holes []int) error {
	c := s.c
	lo, hi := holes[0], holes[len(holes)-1]+1
	steps := c.Steps
	if steps == 0 {
		steps = len(holes)
	}
	blk := hi - lo
	if c.BlockLength > 0 {
		blk = c.BlockLength
	}
	nb := (hi - lo + blk - 1) / blk
	for b := range nb {
		bsteps := steps / nb
		if b < steps%nb {
			bsteps++
		}
		bsteps = max(1, bsteps)
		a, z := lo+b*blk, min(lo+(b+1)*blk, hi)
		n := 0
		for i := a; i < z; i++ {
			if s.x[i] == c.mask {
				n++
			}
		}
		if n == 0 {
			continue
		}
		var grid []int
		if c.linear {
			grid = LinearGrid(n, bsteps)
		} else {
			grid = CosineGrid(n, bsteps)
		}
		if c.strategy == stratThreshold {
			if err := s.runThreshold(a, z, n, grid); err != nil {
				return err
			}
			continue
		}
		for _, k := range grid {
			if k == 0 {
				continue // nothing to commit: no call
			}
			if err := s.step(a, z, k, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// runThreshold commits the block [a,z), which holds n masked positions, Fast-dLLM style; the
// grid's running total is a floor, so the block ends within len(grid) steps.
func (s *sampler) runThreshold(a, z, n int, grid []int) error {
	done, want := 0, 0
	for j := 0; done < n; j++ {
		if j < len(grid) {
			want += grid[j]
		}
		k := max(1, want-done)
		if err := s.step(a, z, k, true); err != nil {
			return err
		}
		done = 0
		for i := a; i < z; i++ {
			if !s.given[i] && s.x[i] != s.c.mask {
				done++
			}
		}
	}
	return nil
}

// step commits k masked positions of [a,z) (with threshold, also every position whose
// confidence reaches the threshold) and reports the step.
func (s *sampler) step(a, z, k int, threshold bool) error {
	c := s.c
	s.elig = s.elig[:0]
	for i := a; i < z; i++ {
		if s.x[i] == c.mask {
			s.elig = append(s.elig, i)
		}
	}
	k = min(k, len(s.elig))
	lc, lu, err := s.logits()
	if err != nil {
		return err
	}
	v := c.v
	row := func(l []float32, i int) []float32 {
		if l == nil {
			return nil
		}
		return l[i*v : (i+1)*v]
	}
	if c.strategy == stratRandom {
		// Uniformly random positions (a partial Fisher-Yates shuffle); only they need a candidate.
		for j := range k {
			r := j + s.rng.IntN(len(s.elig)-j)
			s.elig[j], s.elig[r] = s.elig[r], s.elig[j]
		}
		s.elig = s.elig[:k]
		slices.Sort(s.elig)
		for _, i := range s.elig {
			t, _, err := s.sc.score(row(lc, i), row(lu, i), false, s.rng)
			if err != nil {
				return fmt.Errorf("sample: position %d: %w", i, err)
			}
			s.x[i] = t
		}
		return s.report(s.elig)
	}

	s.cand, s.conf, s.order = s.cand[:0], s.conf[:0], s.order[:0]
	over := 0 // positions whose confidence reaches the threshold
	for j, i := range s.elig {
		t, f, err := s.sc.score(row(lc, i), row(lu, i), true, s.rng)
		if err != nil {
			return fmt.Errorf("sample: position %d: %w", i, err)
		}
		s.cand = append(s.cand, t)
		s.conf = append(s.conf, f)
		s.order = append(s.order, j)
		if f >= c.Threshold {
			over++
		}
	}
	if threshold {
		k = max(k, over)
	}
	// The k most confident; ties go to the leftmost position.
	slices.SortFunc(s.order, func(p, q int) int {
		if r := cmp.Compare(s.conf[q], s.conf[p]); r != 0 {
			return r
		}
		return cmp.Compare(p, q)
	})
	s.order = s.order[:k]
	slices.Sort(s.order)
	committed := s.elig[:0] // elig[order[j]] >= elig[j] for increasing order, so this is safe in place
	for _, j := range s.order {
		i := s.elig[j]
		s.x[i] = s.cand[j]
		committed = append(committed, i)
	}
	return s.report(committed)
}

// logits returns the conditional logits of the current sequence and, under guidance, the
// unconditional ones (the given tokens replaced by MASK); both are (L, v). Without any
// given token the two inputs are equal and the cache answers the second.
func (s *sampler) logits() (lc, lu []float32, err error) {
	c := s.c
	// Under guidance, lc is read after the second call, so it must survive it: the evaluator
	// keeps its last two outputs.
	lc, err = s.eval.logits(s.x)
	if err != nil || c.CFGScale == 0 {
		return lc, nil, err
	}
	s.uncond = append(s.uncond[:0], s.x...)
	for i, g := range s.given {
		if g {
			s.uncond[i] = c.mask
		}
	}
	lu, err = s.eval.logits(s.uncond)
	return lc, lu, err
}

func (s *sampler) report(committed []int) error {
	s.steps++
	if s.c.OnStep != nil {
		s.c.OnStep(s.steps, s.x, committed)
	}
	return nil
}

// result assembles the Result; holes are the input's masked positions.
func (s *sampler) result(holes []int) Result {
	end := len(s.x)
	if s.c.StopAtEOT {
		last := -1 // the last given position
		for i := len(s.given) - 1; i >= 0; i-- {
			if s.given[i] {
				last = i
				break
			}
		}
		for i := last + 1; i < len(s.x); i++ {
			if s.x[i] == s.c.eot {
				end = i
				break
			}
		}
	}
	r := Result{IDs: s.x[:end], NFE: s.eval.calls, Steps: s.steps}
	for _, i := range holes {
		if i < end {
			r.Generated = append(r.Generated, s.x[i])
		}
	}
	return r
}
