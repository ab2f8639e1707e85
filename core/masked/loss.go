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
	return lossOn(logits, nil, x0, xt, B, L, V, times, cfg, maskID, dlogits)
}

// MaskedRows returns dst[:0] with the positions of xt that hold maskID appended in order:
// the rows that carry loss, the only ones whose logits LossRows needs (and so the only
// rows the network's head has to compute, model.ForwardRows).
func MaskedRows(dst, xt []int32, maskID int32) []int32 {
	dst = dst[:0]
	for i, tok := range xt {
		if tok == maskID {
			dst = append(dst, int32(i))
		}
	}
	return dst
}

// LossRows is Loss from the logits of the masked rows alone: rows = MaskedRows(xt), and
// logits and dlogits are (len(rows), V), row i for position rows[i]. It returns the same
// loss as Loss and the same gradient on those rows (Loss's other rows are zero).
func LossRows(logits []float32, rows []int32, x0, xt []int32, B, L, V int, times []float64, cfg NoiseConfig, maskID int32,
	dlogits []float32) (loss float64, maskedCount int) {
	n, R := B*L, len(rows)
	if len(logits) != R*V || len(x0) != n || len(xt) != n || len(times) != B {
		panic("masked: LossRows: shape mismatch")
	}
	if dlogits != nil && len(dlogits) != R*V {
		panic("masked: LossRows: dlogits shape mismatch")
	}
	if rows == nil {
		rows = []int32{} // nil means every row to loss
	}
	return lossOn(logits, rows, x0, xt, B, L, V, times, cfg, maskID, dlogits)
}

// lossOn is Loss (rows nil: logits has every row) and LossRows (logits row i is position
// rows[i], and rows must be exactly the masked positions).
func lossOn(logits []float32, rows []int32, x0, xt []int32, B, L, V int, times []float64, cfg NoiseConfig, maskID int32,
	dlogits []float32) (loss float64, maskedCount int) {
	if maskID < 0 || int(maskID) >= V {
		panic("masked: Loss: maskID out of range")
	}
	defer nn.Track(nn.LossFamily)()
	for _, tok := range xt {
		if tok == maskID {
			maskedCount++
		}
	}
	if rows != nil && len(rows) != maskedCount {
		panic("masked: LossRows: rows are not the masked positions")
	}
	norm := float64(B * L)
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
	loss = parallelRows(len(logits)/V, V, func(lo, hi int) float64 {
		var s float64
		for i := lo; i < hi; i++ {
			var drow []float32
			if dlogits != nil {
				drow = dlogits[i*V : (i+1)*V]
			}
			r := i
			if rows != nil {
				r = int(rows[i])
				if r < 0 || r >= len(xt) || xt[r] != maskID {
					panic("masked: LossRows: rows are not the masked positions")
				}
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
			s += sc * rowCE(logits[i*V:(i+1)*V], target, skip, drow, float32(sc))
		}
		return s
	})
	return loss, maskedCount
}
