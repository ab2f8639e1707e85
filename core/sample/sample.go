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
	s, holes, err := newSampler(&c, ids, d)
	if err != nil {
		return Result{}, err
	}
	if len(holes) > 0 {
		if err := s.run(newPlan(&c, holes)); err != nil {
			return Result{}, err
		}
	}
	return s.result(holes), nil
}

// newSampler returns the sampler of ids under c with d as its network, and the masked
// positions of ids (increasing); a token outside the vocabulary is an error.
func newSampler(c *config, ids []int32, d Denoiser) (*sampler, []int, error) {
	s := &sampler{
		c:     c,
		x:     slices.Clone(ids),
		given: make([]bool, len(ids)),
		eval:  newEvaluator(d),
		sc:    newScorer(c),
		rng:   rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
	}
	var holes []int
	for i, t := range ids {
		if t < 0 || int(t) >= c.v {
			return nil, nil, fmt.Errorf("sample: token %d at position %d outside the vocabulary [0,%d)", t, i, c.v)
		}
		if t == c.mask {
			holes = append(holes, i)
		} else {
			s.given[i] = true
		}
	}
	return s, holes, nil
}

// sampler is the state of one reverse process. The speculative sampler (speculative.go)
// embeds it and walks the same plan with a second evaluator for its draft.
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

// run walks the plan's steps.
func (s *sampler) run(p *plan) error {
	for cur := (cursor{}); ; {
		st, next, ok := p.next(cur, s.x)
		if !ok {
			return nil
		}
		if err := s.step(st); err != nil {
			return err
		}
		cur = next
	}
}

// plan is the schedule of a reverse process: its blocks, each with the grid of how many
// tokens its steps commit. The plain and the speculative sampler walk it alike.
type plan struct {
	c      *config
	blocks []planBlock
}

type planBlock struct {
	a, z, n int   // the block [a,z) holds n masked positions at the start
	grid    []int // tokens per step (entries may be 0: such a step is skipped)
}

// cursor is a place in a plan: block b, grid entry j of it, and g steps taken before.
type cursor struct{ b, j, g int }

// planStep is one step of a plan: commit k masked positions of [a,z) (with threshold, also
// every one whose confidence reaches the threshold); g counts the steps before it.
type planStep struct {
	a, z, k, g int
	threshold  bool
}

// newPlan splits the span of holes (the masked positions, increasing) into blocks of
// BlockLength (one block without it), with the steps split evenly over the blocks (the
// remainder to the first ones, at least one each) and each block's on the grid.
func newPlan(c *config, holes []int) *plan {
	p := &plan{c: c}
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
		for _, h := range holes {
			if h >= a && h < z {
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
		p.blocks = append(p.blocks, planBlock{a: a, z: z, n: n, grid: grid})
	}
	return p
}

// next returns the step at cur for the sequence x and the cursor after it; ok is false
// when the plan is done. Without threshold the steps are the grid's nonzero entries. With
// threshold (Fast-dLLM) a block runs until none of its positions is masked, and the grid's
// running total is a floor on what it has committed, so it ends within len(grid) steps.
func (p *plan) next(cur cursor, x []int32) (st planStep, after cursor, ok bool) {
	for ; cur.b < len(p.blocks); cur.b, cur.j = cur.b+1, 0 {
		bl := &p.blocks[cur.b]
		if p.c.strategy != stratThreshold {
			for cur.j < len(bl.grid) && bl.grid[cur.j] == 0 {
				cur.j++ // nothing to commit: no call
			}
			if cur.j < len(bl.grid) {
				st = planStep{a: bl.a, z: bl.z, k: bl.grid[cur.j], g: cur.g}
				return st, cursor{cur.b, cur.j + 1, cur.g + 1}, true
			}
			continue
		}
		left := 0
		for i := bl.a; i < bl.z; i++ {
			if x[i] == p.c.mask {
				left++
			}
		}
		if left == 0 {
			continue
		}
		want := 0
		for _, k := range bl.grid[:min(cur.j+1, len(bl.grid))] {
			want += k
		}
		st = planStep{a: bl.a, z: bl.z, k: max(1, want-(bl.n-left)), g: cur.g, threshold: true}
		return st, cursor{cur.b, cur.j + 1, cur.g + 1}, true
	}
	return planStep{}, cur, false
}

// step commits st.k masked positions of [st.a,st.z) (with threshold, also every position
// whose confidence reaches the threshold) and reports the step.
func (s *sampler) step(st planStep) error {
	c := s.c
	s.elig = eligible(s.elig, s.x, st, c.mask)
	k := min(st.k, len(s.elig))
	if c.strategy == stratRandom {
		// Only the chosen positions need a candidate, and so logits. The positions do not
		// depend on the network, so they are drawn first.
		s.elig = randomPositions(s.elig, k, s.rng)
	}
	lc, lu, err := s.logits(s.elig)
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
		for _, i := range s.elig {
			t, _, err := s.sc.score(row(lc, i), row(lu, i), false, s.rng)
			if err != nil {
				return fmt.Errorf("sample: position %d: %w", i, err)
			}
			s.x[i] = t
		}
		return s.report(s.elig)
	}

	s.cand, s.conf = s.cand[:0], s.conf[:0]
	for _, i := range s.elig {
		t, f, err := s.sc.score(row(lc, i), row(lu, i), true, s.rng)
		if err != nil {
			return fmt.Errorf("sample: position %d: %w", i, err)
		}
		s.cand = append(s.cand, t)
		s.conf = append(s.conf, f)
	}
	s.order = choose(s.order, s.conf, k, st.threshold, c.Threshold)
	committed := s.elig[:0] // elig[order[j]] >= elig[j] for increasing order, so this is safe in place
	for _, j := range s.order {
		i := s.elig[j]
		s.x[i] = s.cand[j]
		committed = append(committed, i)
	}
	return s.report(committed)
}

// eligible returns, in dst, the masked positions of [st.a,st.z) of x, increasing.
func eligible(dst []int, x []int32, st planStep, mask int32) []int {
	dst = dst[:0]
	for i := st.a; i < st.z; i++ {
		if x[i] == mask {
			dst = append(dst, i)
		}
	}
	return dst
}

// randomPositions keeps k uniformly random entries of elig (a partial Fisher-Yates
// shuffle in place), sorted, and returns them.
func randomPositions(elig []int, k int, rng *rand.Rand) []int {
	k = min(k, len(elig))
	for j := range k {
		r := j + rng.IntN(len(elig)-j)
		elig[j], elig[r] = elig[r], elig[j]
	}
	elig = elig[:k]
	slices.Sort(elig)
	return elig
}

// choose returns, in dst, the indexes of the k highest confidences conf (with threshold,
// also every one reaching tau), increasing; ties go to the lowest index.
func choose(dst []int, conf []float64, k int, threshold bool, tau float64) []int {
	dst = dst[:0]
	over := 0
	for j, f := range conf {
		dst = append(dst, j)
		if f >= tau {
			over++
		}
	}
	if threshold {
		k = max(k, over)
	}
	k = min(k, len(conf))
	slices.SortFunc(dst, func(p, q int) int {
		if r := cmp.Compare(conf[q], conf[p]); r != 0 {
			return r
		}
		return cmp.Compare(p, q)
	})
	dst = dst[:k]
	slices.Sort(dst)
	return dst
}

// logits returns the conditional logits of the current sequence and, under guidance, the
// unconditional ones (the given tokens replaced by MASK); both are (L, v), of which only
// the positions rows (increasing) are to be read. Without any given token the two inputs
// are equal and the cache answers the second.
func (s *sampler) logits(rows []int) (lc, lu []float32, err error) {
	c := s.c
	// Under guidance, lc is read after the second call, so it must survive it: the evaluator
	// keeps its last two outputs.
	lc, err = s.eval.logits(s.x, rows)
	if err != nil || c.CFGScale == 0 {
		return lc, nil, err
	}
	s.uncond = append(s.uncond[:0], s.x...)
	for i, g := range s.given {
		if g {
			s.uncond[i] = c.mask
		}
	}
	lu, err = s.eval.logits(s.uncond, rows)
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
