// Package optim holds AdamW, global-norm gradient clipping and the learning-rate schedule
// (linear warm-up, then cosine decay to a floor).
package optim

import (
	"math"

	"github.com/austen-diffusion/textdiffusion/core/nn"
)

// AdamW is decoupled weight decay Adam (Loshchilov & Hutter) over one flat arena.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	M, V                           []float32 // first and second moments, same layout as params
	Ranges                         []Range   // contiguous parameter ranges and whether they decay
	Step                           int       // updates done so far
}

// Range is a contiguous slice [Lo, Hi) of the arena; Decay says whether weight decay
// applies (matrices yes; norm gains no, as is usual).
type Range struct {
	Lo, Hi int
	Decay  bool
}

// NewAdamW returns an optimizer for n parameters with the usual small-LM settings.
func NewAdamW(n int, ranges []Range, weightDecay float64) *AdamW {
	return &AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: weightDecay,
		M: make([]float32, n), V: make([]float32, n), Ranges: ranges}
}

// Update applies one step with learning rate lr: params -= lr * (mhat/(sqrt(vhat)+eps) +
// wd * params), with bias-corrected moments.
func (o *AdamW) Update(params, grads []float32, lr float64) {
	defer nn.Track(nn.Optimizer)()
	o.Step++
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	c1 := float32(1 / (1 - math.Pow(o.Beta1, float64(o.Step))))
	c2 := float32(1 / (1 - math.Pow(o.Beta2, float64(o.Step))))
	eps, flr := float32(o.Eps), float32(lr)
	for _, r := range o.Ranges {
		wd := float32(0)
		if r.Decay {
			wd = float32(o.WeightDecay)
		}
		p, g, m, v := params[r.Lo:r.Hi], grads[r.Lo:r.Hi], o.M[r.Lo:r.Hi], o.V[r.Lo:r.Hi]
		nn.For(len(p), 12, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gi := g[i]
				m[i] = b1*m[i] + (1-b1)*gi
				v[i] = b2*v[i] + (1-b2)*gi*gi
				mh, vh := m[i]*c1, v[i]*c2
				p[i] -= flr * (mh/(float32(math.Sqrt(float64(vh)))+eps) + wd*p[i])
			}
		})
	}
}

// ClipGradNorm scales grads so that their global L2 norm is at most maxNorm (if
// maxNorm > 0) and returns the norm before clipping.
func ClipGradNorm(grads []float32, maxNorm float64) float64 {
	defer nn.Track(nn.Optimizer)()
	var ss float64
	for _, g := range grads {
		ss += float64(g) * float64(g)
	}
	norm := math.Sqrt(ss)
	if maxNorm > 0 && norm > maxNorm {
		s := float32(maxNorm / (norm + 1e-6))
		for i := range grads {
			grads[i] *= s
		}
	}
	return norm
}

// Schedule is warm-up then cosine decay: lr rises linearly from 0 to Max over Warmup
// steps, then follows a half cosine down to Min at step Total.
type Schedule struct {
	Max, Min      float64
	Warmup, Total int
}

// At returns the learning rate for step (0-based).
func (s Schedule) At(step int) float64 {
	if step < s.Warmup {
		return s.Max * float64(step+1) / float64(s.Warmup)
	}
	if step >= s.Total {
		return s.Min
	}
	p := float64(step-s.Warmup) / float64(max(1, s.Total-s.Warmup))
	return s.Min + 0.5*(s.Max-s.Min)*(1+math.Cos(math.Pi*p))
}
