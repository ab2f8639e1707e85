package sample

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Speculative sampling (De Bortoli et al. 2025; the masked-diffusion analogue). A cheap
// draft proposes a chain of up to K reverse steps; the target scores the states they start
// from in one batched call and checks them in order. A step's tokens are independent given
// the state it starts from, so each drafted token t is checked alone: kept with probability
// min(1, q(t)/p(t)) (q the target's distribution at that position, p the draft's, both after
// temperature and the top-k/top-p cuts), else replaced by a draw from norm(max(0, q - p)).
// The token kept is then distributed exactly as q. At the first step that changes, its
// corrected tokens are kept and the rest of the chain is dropped; when the whole chain
// stands, the batch's extra row (the state after the chain) gives one more step from the
// target alone. So every committed step is distributed as the plain sampler's step from the
// same state, and the output as the plain sampler's.
//
// Which positions a step commits:
//   - random: drawn by their own generator, as the plain sampler draws them, independently
//     of the model and of the tokens (the masked set after a step does not depend on its
//     tokens), so draft and target share them; at temperature 0 they are the plain
//     sampler's for the same seed.
//   - low-confidence, semi-ar, threshold: the draft draws a candidate at every eligible
//     position and picks positions by its own confidences. The target checks every
//     candidate (the kept candidates are then independent draws from q, as the plain
//     sampler's are), scores them with its own confidences and picks positions by the same
//     rule. The step stands only when the target's pick equals the draft's and every picked
//     candidate was kept; otherwise the target's pick with the checked candidates is the
//     corrected step. So the step, positions included, has the plain sampler's distribution
//     at any temperature; at temperature 0 both are deterministic and the output is
//     token-identical to the plain sampler's.

// Origin says how a position of a speculative result got its token.
type Origin uint8

const (
	Given      Origin = iota // part of the input
	FromTarget               // drawn from the target alone (a round's step after its whole chain stood, or the first round of the frozen draft)
	Accepted                 // drafted, and kept by the target
	Corrected                // drafted, rejected, and drawn again by the target's rule
)

// SpecOptions configures Speculative.
type SpecOptions struct {
	// Draft proposes the steps; nil selects the frozen draft: the target's most recent output
	// (its logits at the last state it saw) reused for the next K steps, at no cost.
	Draft Denoiser
	// K is the number of drafted steps per round; the target checks them with one call of
	// K+1 sequences (the last for the step after the chain).
	K int
	// OnStep, when set, is called instead of Options.OnStep after every committed step, with
	// how each committed position got its token (origin is parallel to committed). The
	// slices are the sampler's own: read them during the call only.
	OnStep func(step int, ids []int32, committed []int, origin []Origin)
}

// SpecResult is a speculative sample and what it cost.
type SpecResult struct {
	Result // NFE is the target's sequential calls (TargetCalls)
	// TargetCalls and DraftCalls are the sequential network calls of each model (a batched
	// call counts once); TargetRows and DraftRows count the sequences they evaluated.
	TargetCalls, TargetRows, DraftCalls, DraftRows int
	// Rounds is the number of draft-then-verify rounds (one target call each).
	Rounds int
	// DraftedSteps counts the steps the draft proposed, CheckedSteps those the target checked
	// (up to the first changed step of each round), AcceptedSteps those that stood.
	DraftedSteps, CheckedSteps, AcceptedSteps int
	// CheckedTokens counts the tokens the checked steps committed, AcceptedTokens those of
	// them that are the drafted token at a drafted position.
	CheckedTokens, AcceptedTokens int
	// Origin (len(IDs)) says how each position got its token.
	Origin []Origin
}

// rules are the verification's acceptance probability and residual; the exact ones are
// min(1, q/p) and max(0, q - p). Tests plant wrong ones to show the exactness test bites.
type rules struct {
	accept   func(q, p float64) float64 // probability of keeping a drafted token
	residual func(out, q, p []float64)  // unnormalised distribution to draw from after a rejection
}

var exactRules = rules{
	accept: func(q, p float64) float64 { return min(1, q/p) },
	residual: func(out, q, p []float64) {
		for j := range out {
			out[j] = max(0, q[j]-p[j])
		}
	},
}

// Speculative samples every MASK position of ids like Infill with target, with the steps
// proposed by spec.Draft and verified by target as described above. Guidance (CFGScale) is
// not supported.
func Speculative(target Denoiser, ids []int32, opt Options, spec SpecOptions) (SpecResult, error) {
	return speculative(target, ids, opt, spec, exactRules)
}

// drafted is one proposed step.
type drafted struct {
	st    planStep
	after cursor
	x     []int32   // (L) the state the step starts from
	rows  []float32 // (len(elig), v) the draft's logits at x, at the elig positions
	elig  []int     // random: the chosen positions; otherwise every masked position of the block
	cand  []int32   // the drafted token at each elig position
	pcand []float64 // the draft's probability of each cand
	pick  []int     // indexes into elig of the committed positions, increasing
}

type specSampler struct {
	*sampler
	spec          SpecOptions
	rules         rules
	plan          *plan
	target, draft *evaluator // draft nil: frozen
	posRng        *rand.Rand
	pos           [][]int   // random strategy: the positions of step g, drawn once, in order
	frozen        []float32 // (L, v) the target's latest output; nil before its first call
	chain         []drafted
	batch         []int32 // (rows, L)
	p, q, r       []float64
	origin        []Origin
	res           SpecResult
	committed     []int
	how           []Origin
}

func speculative(target Denoiser, ids []int32, opt Options, spec SpecOptions, ru rules) (SpecResult, error) {
	c, err := resolve(opt, target.Vocab())
	if err != nil {
		return SpecResult{}, err
	}
	switch {
	case spec.K < 1:
		return SpecResult{}, fmt.Errorf("sample: speculative K %d, want >= 1", spec.K)
	case opt.CFGScale != 0:
		return SpecResult{}, errors.New("sample: speculative sampling does not support guidance (CFGScale)")
	case spec.Draft != nil && spec.Draft.Vocab() != c.v:
		return SpecResult{}, fmt.Errorf("sample: draft vocabulary %d, target %d: they must share the tokenizer", spec.Draft.Vocab(), c.v)
	}
	s, holes, err := newSampler(&c, ids, target)
	if err != nil {
		return SpecResult{}, err
	}
	// Tokens and tests draw from their own stream; positions from the plain sampler's, so
	// that at temperature 0 random order commits the same positions.
	posRng := s.rng
	s.rng = rand.New(rand.NewPCG(c.Seed^0x5bd1e995, c.Seed+0x2545f4914f6cdd1d))
	sp := &specSampler{
		sampler: s, spec: spec, rules: ru, posRng: posRng, target: s.eval,
		p: make([]float64, c.v), q: make([]float64, c.v), r: make([]float64, c.v),
		origin: make([]Origin, len(ids)),
	}
	if spec.Draft != nil {
		sp.draft = newEvaluator(spec.Draft)
	}
	if len(holes) > 0 {
		sp.plan = newPlan(&c, holes)
		if err := sp.run(); err != nil {
			return SpecResult{}, err
		}
	}
	res := sp.res
	res.Result = sp.result(holes)
	res.TargetCalls, res.TargetRows = sp.target.calls, sp.target.rows
	if sp.draft != nil {
		res.DraftCalls, res.DraftRows = sp.draft.calls, sp.draft.rows
	}
	res.Origin = sp.origin[:len(res.IDs)]
	return res, nil
}

// run does rounds until the plan is done: draft a chain, verify it with one batched target
// call, keep what stands.
func (sp *specSampler) run() error {
	c, L := sp.c, len(sp.x)
	for cur := (cursor{}); ; {
		// Draft: up to K steps from the current state, each from the state the last left.
		x := slices.Clone(sp.x)
		at := cur
		n := 0
		for n < sp.spec.K && (sp.draft != nil || sp.frozen != nil) {
			st, after, ok := sp.plan.next(at, x)
			if !ok {
				break
			}
			if n == len(sp.chain) {
				sp.chain = append(sp.chain, drafted{x: make([]int32, L)})
			}
			d := &sp.chain[n]
			d.st, d.after = st, after
			copy(d.x, x)
			if err := sp.propose(d); err != nil {
				return err
			}
			for _, j := range d.pick {
				x[d.elig[j]] = d.cand[j]
			}
			at, n = after, n+1
		}
		sp.res.DraftedSteps += n
		bst, bafter, bonus := sp.plan.next(at, x)
		if n == 0 && !bonus {
			return nil
		}

		// Verify: the states the drafted steps start from, and the one after the chain.
		sp.batch = sp.batch[:0]
		for j := range n {
			sp.batch = append(sp.batch, sp.chain[j].x...)
		}
		rows := n
		if bonus {
			sp.batch = append(sp.batch, x...)
			rows++
		}
		out, err := sp.target.batch(sp.batch, rows)
		if err != nil {
			return err
		}
		sp.res.Rounds++
		stood := true
		var last []float32
		for j := range n {
			d := &sp.chain[j]
			last = out[j*L*c.v : (j+1)*L*c.v]
			sp.res.CheckedSteps++
			ok, err := sp.verify(d, last)
			if err != nil {
				return err
			}
			cur = d.after
			if !ok {
				stood = false
				break
			}
			sp.res.AcceptedSteps++
		}
		if stood && bonus {
			last = out[n*L*c.v:]
			if err := sp.targetStep(bst, last); err != nil {
				return err
			}
			cur = bafter
		}
		if sp.draft == nil {
			sp.frozen = append(sp.frozen[:0], last...)
		}
	}
}

// propose drafts step d.st from d.x: positions and candidates, and the draft's
// probability of each candidate.
func (sp *specSampler) propose(d *drafted) error {
	c, v := sp.c, sp.c.v
	src := sp.frozen // (L, v)
	if sp.draft != nil {
		out, err := sp.draft.logits(d.x, nil)
		if err != nil {
			return fmt.Errorf("draft: %w", err)
		}
		src = out
	}
	if c.strategy == stratRandom {
		d.elig = append(d.elig[:0], sp.positions(d.st, d.x)...)
	} else {
		d.elig = eligible(d.elig, d.x, d.st, c.mask)
	}
	// Keep the rows the check will need: the draft's buffer is reused before it.
	d.rows = d.rows[:0]
	for _, i := range d.elig {
		d.rows = append(d.rows, src[i*v:(i+1)*v]...)
	}
	d.cand, d.pcand, sp.conf = d.cand[:0], d.pcand[:0], sp.conf[:0]
	for j, i := range d.elig {
		arg, err := sp.sc.load(d.rows[j*v:(j+1)*v], nil)
		if err != nil {
			return fmt.Errorf("sample: draft at position %d: %w", i, err)
		}
		sp.sc.dist(arg, sp.p)
		t := arg
		if c.Temperature > 0 {
			if t, err = pick(sp.p, 1, sp.rng); err != nil {
				return fmt.Errorf("sample: draft at position %d: %w", i, err)
			}
		}
		d.cand = append(d.cand, int32(t))
		d.pcand = append(d.pcand, sp.p[t])
		sp.conf = append(sp.conf, sp.sc.confidence(t))
	}
	if c.strategy == stratRandom {
		d.pick = d.pick[:0]
		for j := range d.elig {
			d.pick = append(d.pick, j)
		}
		return nil
	}
	d.pick = choose(d.pick, sp.conf, min(d.st.k, len(d.elig)), d.st.threshold, c.Threshold)
	return nil
}

// positions returns the positions random order commits at step st, drawn on first use from
// the masked positions of the step's block. They depend only on the masked set, which
// does not depend on the tokens, so a dropped step's are reused when it is drafted again.
func (sp *specSampler) positions(st planStep, x []int32) []int {
	for len(sp.pos) <= st.g {
		sp.pos = append(sp.pos, nil)
	}
	if sp.pos[st.g] == nil {
		elig := eligible(nil, x, st, sp.c.mask)                                   // x: the state after the steps before g
		sp.pos[st.g] = append([]int{}, randomPositions(elig, st.k, sp.posRng)...) // non-nil: drawn
	}
	return sp.pos[st.g]
}

// verify checks drafted step d against the target's logits qrows (L, v) at d.x, commits
// the step (as drafted, or corrected) into the sequence and reports whether it stood.
func (sp *specSampler) verify(d *drafted, qrows []float32) (bool, error) {
	c, v := sp.c, sp.c.v
	// Check every candidate: keep it or draw again.
	sp.cand, sp.conf = sp.cand[:0], sp.conf[:0]
	sp.committed, sp.how = sp.committed[:0], sp.how[:0]
	for j, i := range d.elig {
		t := int(d.cand[j])
		arg, err := sp.sc.load(qrows[i*v:(i+1)*v], nil)
		if err != nil {
			return false, fmt.Errorf("sample: target at position %d: %w", i, err)
		}
		sp.sc.dist(arg, sp.q)
		if sp.rng.Float64() >= sp.rules.accept(sp.q[t], d.pcand[j]) {
			// Rejected: draw from the residual, which needs the draft's whole distribution.
			darg, err := sp.sc.load(d.rows[j*v:(j+1)*v], nil)
			if err != nil {
				return false, fmt.Errorf("sample: draft at position %d: %w", i, err)
			}
			sp.sc.dist(darg, sp.p)
			sp.rules.residual(sp.r, sp.q, sp.p)
			var total float64
			for _, x := range sp.r {
				total += x
			}
			src := sp.r
			if total <= 0 { // q == p up to rounding: q itself is the residual's limit
				src, total = sp.q, 1
			}
			if t, err = pick(src, total, sp.rng); err != nil {
				return false, fmt.Errorf("sample: residual at position %d: %w", i, err)
			}
			// Reload the target's row so the confidence below is the target's.
			if _, err = sp.sc.load(qrows[i*v:(i+1)*v], nil); err != nil {
				return false, err
			}
			sp.sc.expw()
		}
		sp.cand = append(sp.cand, int32(t))
		if c.strategy != stratRandom {
			sp.conf = append(sp.conf, sp.sc.confidence(t))
		}
	}
	pickIdx := d.pick
	if c.strategy != stratRandom {
		sp.order = choose(sp.order, sp.conf, min(d.st.k, len(d.elig)), d.st.threshold, c.Threshold)
		pickIdx = sp.order
	}
	stood := slices.Equal(pickIdx, d.pick)
	for _, j := range pickIdx {
		i := d.elig[j]
		sp.x[i] = sp.cand[j]
		o := Corrected
		if sp.cand[j] == d.cand[j] {
			o = Accepted
		} else {
			stood = false
		}
		if !slices.Contains(d.pick, j) {
			o, stood = Corrected, false // the draft did not commit this position
		}
		sp.res.CheckedTokens++
		if o == Accepted {
			sp.res.AcceptedTokens++
		}
		sp.origin[i] = o
		sp.committed = append(sp.committed, i)
		sp.how = append(sp.how, o)
	}
	sp.report()
	return stood, nil
}

// targetStep commits step st from the target's logits rows (L, v) at the current state,
// as the plain sampler would.
func (sp *specSampler) targetStep(st planStep, rows []float32) error {
	c, v := sp.c, sp.c.v
	var elig []int
	if c.strategy == stratRandom {
		elig = sp.positions(st, sp.x)
	} else {
		sp.elig = eligible(sp.elig, sp.x, st, c.mask)
		elig = sp.elig
	}
	sp.cand, sp.conf = sp.cand[:0], sp.conf[:0]
	for _, i := range elig {
		t, f, err := sp.sc.score(rows[i*v:(i+1)*v], nil, c.strategy != stratRandom, sp.rng)
		if err != nil {
			return fmt.Errorf("sample: position %d: %w", i, err)
		}
		sp.cand = append(sp.cand, t)
		sp.conf = append(sp.conf, f)
	}
	sp.order = sp.order[:0]
	if c.strategy == stratRandom {
		for j := range elig {
			sp.order = append(sp.order, j)
		}
	} else {
		sp.order = choose(sp.order, sp.conf, min(st.k, len(elig)), st.threshold, c.Threshold)
	}
	sp.committed, sp.how = sp.committed[:0], sp.how[:0]
	for _, j := range sp.order {
		i := elig[j]
		sp.x[i] = sp.cand[j]
		sp.origin[i] = FromTarget
		sp.committed = append(sp.committed, i)
		sp.how = append(sp.how, FromTarget)
	}
	sp.report()
	return nil
}

func (sp *specSampler) report() {
	sp.steps++
	switch {
	case sp.spec.OnStep != nil:
		sp.spec.OnStep(sp.steps, sp.x, sp.committed, sp.how)
	case sp.c.OnStep != nil:
		sp.c.OnStep(sp.steps, sp.x, sp.committed)
	}
}
