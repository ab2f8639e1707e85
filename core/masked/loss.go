package masked

import "github.com/austen-diffusion/textdiffusion/core/nn"

// Loss is the masked-diffusion ELBO objective of one batch under the SUBS parametrisation:
//
//	loss = sum_{b, n: xt[b,n] = MASK} w(t_b) * -log p(x0[b,n] | xt_b) / (B*L)
//
// with w = Weight(cfg.Schedule, t_b) and p the softmax of the logits over every column except
// maskID (the network never predicts MASK: its logit is treated as -inf). Unmasked positions
// carry their input over, so they add no loss and get zero gradient whatever their logits.
// With cfg.ExactCount, w = 1/t_b = L/l_b whatever the schedule (see NoiseConfig).
// With cfg.DivideByMasked the normaliser is the batch's masked count instead of B*L (the
// wrong formulation, for the ablation). With times from SampleTimes the loss estimates the
// NELBO per token (see ELBO), an upper bound on the NLL per token, without bias apart from the
// O(Eps) effect of clipping the times (and, for LogLinear, the ignored prior term); the weight
// makes the estimate the same for every schedule, only its variance changes.
//
// logits and dlogits are (B*L, V); x0 and xt are (B*L); times is (B), the (clipped) times xt
// was drawn at. dlogits, when non-nil, is overwritten with d(loss)/d(logits), zero on the
// maskID column and on unmasked rows. It returns the loss and the number of masked tokens.
// Rows run in parallel over GOMAXPROCS goroutines.
func Loss(logits []float32, x0, xt []int32, B, L, V int, times []float64, cfg NoiseConfig, maskID int32,
	dlogits []float32) (loss float64, maskedCount int) {
	n := B * L
	if len(logits) != n*V || len(x0) != n || len(xt) != n || len(times) != B {
		panic("masked: Loss: shape mismatch")
	}
	if dlogits != nil && len(dlogits) != n*V {
		panic("masked: Loss: dlogits shape mismatch")
	}
	if maskID < 0 || int(maskID) >= V {
		panic("masked: Loss: maskID out of range")
	}
	defer nn.Track(nn.LossFamily)()
	for _, tok := range xt {
		if tok == maskID {
			maskedCount++
		}
	}
	norm := float64(n)
	if cfg.DivideByMasked {
		norm = float64(maskedCount)
	}
	if maskedCount == 0 {
		if dlogits != nil {
			clear(dlogits)
		}
		return 0, 0
	}
	// scale[b] is the factor on each masked token's cross-entropy in sequence b.
	scale := make([]float64, B)
	for b, t := range times {
		if cfg.ExactCount {
			scale[b] = 1 / t / norm // L/l_b
		} else {
			scale[b] = Weight(cfg.Schedule, t) / norm
		}
	}
	skip := int(maskID)
	loss = parallelRows(n, V, func(lo, hi int) float64 {
		var s float64
		for r := lo; r < hi; r++ {
			var drow []float32
			if dlogits != nil {
				drow = dlogits[r*V : (r+1)*V]
			}
			if xt[r] != maskID {
				clear(drow)
				continue
			}
			target := int(x0[r])
			if target == skip {
				panic("masked: Loss: x0 holds the MASK id at a masked position")
			}
			sc := scale[r/L]
			s += sc * rowCE(logits[r*V:(r+1)*V], target, skip, drow, float32(sc))
		}
		return s
	})
	return loss, maskedCount
}
