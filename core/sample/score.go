package sample

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
)

var errNoToken = errors.New("no finite logit besides MASK")

// scorer turns one position's logits into a candidate token and its confidence. It owns its
// scratch rows so a step allocates nothing per position.
type scorer struct {
	c       *config
	w       []float64 // (v) the working logits of one position
	scratch []float64 // (v) for the top-k / top-p cuts
}

func newScorer(c *config) *scorer {
	return &scorer{c: c, w: make([]float64, c.v), scratch: make([]float64, c.v)}
}

// score returns the candidate for a position whose conditional logits are lc (v) and, under
// guidance, unconditional logits lu (v; nil without guidance), and the position's confidence
// when wantConf. Candidates are argmax(l + T*Gumbel) after the top-k / top-p cuts; the
// confidence uses the guided logits before the cuts and without noise. The MASK logit is
// -inf throughout (SUBS), so MASK is never a candidate.
func (s *scorer) score(lc, lu []float32, wantConf bool, rng *rand.Rand) (int32, float64, error) {
	c, w := s.c, s.w
	if lu == nil {
		for j, x := range lc {
			w[j] = float64(x)
		}
	} else {
		g := c.CFGScale + 1
		for j := range lc {
			u := float64(lu[j])
			w[j] = u + g*(float64(lc[j])-u)
		}
	}
	w[c.mask] = math.Inf(-1)

	var lse, conf float64
	if wantConf {
		// log-sum-exp and the statistics the confidence needs, before any cut.
		top1, top2 := math.Inf(-1), math.Inf(-1)
		for _, x := range w {
			if x > top1 {
				top1, top2 = x, top1
			} else if x > top2 {
				top2 = x
			}
		}
		if math.IsInf(top1, -1) || math.IsNaN(top1) {
			return 0, 0, errNoToken
		}
		var sum, dot float64
		for _, x := range w {
			if x > math.Inf(-1) {
				e := math.Exp(x - top1)
				sum += e
				dot += e * (x - top1)
			}
		}
		lse = top1 + math.Log(sum)
		switch c.conf {
		case confEntropy:
			// H = lse - sum p x = log(sum) - sum p (x - top1); the confidence is -H.
			conf = dot/sum - math.Log(sum)
		case confMargin:
			conf = math.Exp(top1-lse) - math.Exp(top2-lse)
		}
	}

	s.cut()
	cand := -1
	best := math.Inf(-1)
	if c.Temperature == 0 {
		for j, x := range w {
			if x > best {
				best, cand = x, j
			}
		}
	} else {
		for j, x := range w {
			if x == math.Inf(-1) {
				continue
			}
			// Gumbel(0,1) = -log(-log u); u = 0 gives -inf, which never wins.
			y := x - c.Temperature*math.Log(-math.Log(rng.Float64()))
			if y > best {
				best, cand = y, j
			}
		}
	}
	if cand < 0 {
		return 0, 0, errNoToken
	}
	if wantConf && c.conf == confProb {
		conf = math.Exp(w[cand] - lse) // the cuts leave w[cand] as it was
	}
	return int32(cand), conf, nil
}

// cut applies top-k and then top-p to s.w, setting the dropped logits to -inf.
func (s *scorer) cut() {
	c, w := s.c, s.w
	if c.TopK > 0 && c.TopK < len(w) {
		t := s.scratch
		copy(t, w)
		slices.Sort(t)
		kth := t[len(t)-c.TopK]
		for j, x := range w {
			if x < kth {
				w[j] = math.Inf(-1)
			}
		}
	}
	if c.TopP > 0 && c.TopP < 1 && c.Temperature > 0 {
		// Tempered probabilities, sorted in decreasing order.
		m := slices.Max(w)
		if math.IsInf(m, -1) {
			return
		}
		t := s.scratch
		var sum float64
		for j, x := range w {
			t[j] = math.Exp((x - m) / c.Temperature)
			sum += t[j]
		}
		slices.Sort(t)
		var acc float64
		cutP := 0.0 // the smallest kept (unnormalised) probability
		for i := len(t) - 1; i >= 0; i-- {
			acc += t[i]
			cutP = t[i]
			if acc >= c.TopP*sum {
				break
			}
		}
		for j, x := range w {
			if math.Exp((x-m)/c.Temperature) < cutP {
				w[j] = math.Inf(-1)
			}
		}
	}
}
