package continuous

import (
	"fmt"
	"math/rand/v2"
)

// Held-out yardsticks of a continuous model's two networks, on windows of clean text.

// DecoderAccuracy is the share of tokens the decoder reads back (argmax, MASK excluded)
// from the latents of windows noised to time t (0: the clean latents), noise from seed.
func (m *Model) DecoderAccuracy(windows [][]int32, t float64, seed uint64, batch int) (float64, error) {
	right, total := 0, 0
	err := m.batches(windows, batch, func(ids []int32, B int, z []float32) {
		m.noiseTo(z, B, t, seed+uint64(total))
		tok := m.tokensBatch(z, B)
		for i, id := range ids {
			if tok[i] == id {
				right++
			}
		}
		total += len(ids)
	})
	if err != nil || total == 0 {
		return 0, err
	}
	return float64(right) / float64(total), nil
}

// DenoiseMSE is the denoiser's mean squared error per latent value at time t, with the
// self-conditioning input (when the denoiser has one) its own first estimate, as in
// sampling's second step onwards.
func (m *Model) DenoiseMSE(windows [][]int32, t float64, seed uint64, batch int) (float64, error) {
	var sum float64
	n := 0
	err := m.batches(windows, batch, func(ids []int32, B int, z0 []float32) {
		zt := append([]float32(nil), z0...)
		m.noiseTo(zt, B, t, seed+uint64(n))
		rowT := make([]float32, len(ids))
		for i := range rowT {
			rowT[i] = float32(t)
		}
		est := m.Denoiser.Denoise(zt, nil, rowT, B)
		if m.Denoiser.Cfg.SelfCond {
			first := append([]float32(nil), est...)
			est = m.Denoiser.Denoise(zt, first, rowT, B)
		}
		for i, v := range est {
			d := float64(v - z0[i])
			sum += d * d
		}
		n += len(est)
	})
	if err != nil || n == 0 {
		return 0, err
	}
	return sum / float64(n), nil
}

// batches encodes windows (each of the same length) batch at a time and hands each batch's
// ids, size and normalised latents to fn.
func (m *Model) batches(windows [][]int32, batch int, fn func(ids []int32, B int, z []float32)) error {
	if batch < 1 || len(windows) == 0 {
		return fmt.Errorf("continuous: need windows and batch >= 1")
	}
	L, D := len(windows[0]), m.Space.D()
	for lo := 0; lo < len(windows); lo += batch {
		hi := min(lo+batch, len(windows))
		var ids []int32
		for _, w := range windows[lo:hi] {
			if len(w) != L {
				return fmt.Errorf("continuous: windows of different lengths")
			}
			ids = append(ids, w...)
		}
		z := make([]float32, len(ids)*D)
		m.Space.Encode(z, ids, hi-lo)
		fn(ids, hi-lo, z)
	}
	return nil
}

// noiseTo noises B sequences of latents z in place to time t (nothing at t = 0).
func (m *Model) noiseTo(z []float32, B int, t float64, seed uint64) {
	if t == 0 {
		return
	}
	ts := make([]float64, B)
	for i := range ts {
		ts[i] = t
	}
	Noise(z, nil, z, ts, m.Space.D(), m.Schedule, rand.New(rand.NewPCG(seed, 0xe7a1)))
}

// tokensBatch decodes B sequences of latents to their most likely tokens.
func (m *Model) tokensBatch(z []float32, B int) []int32 {
	V := m.Decoder.Cfg.Vocab
	logits := m.Decoder.Decode(z, B)
	out := make([]int32, len(z)/m.Space.D())
	for i := range out {
		out[i] = argmaxText(logits[i*V : (i+1)*V])
	}
	return out
}

// argmaxText is the most likely token of a row of logits, the last id (MASK, never text)
// left out.
func argmaxText(row []float32) int32 {
	best := 0
	for v := 1; v < len(row)-1; v++ {
		if row[v] > row[best] {
			best = v
		}
	}
	return int32(best)
}
