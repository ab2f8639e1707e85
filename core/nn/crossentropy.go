package nn

import "math"

// CrossEntropy returns sum over rows with target >= 0 of -log softmax(logits)[target],
// times scale, and writes dlogits = scale * (softmax - onehot) for those rows (0 for the
// rest) when dlogits is not nil. logits and dlogits are (N,V); a target < 0 is ignored.
func CrossEntropy(dlogits, logits []float32, targets []int32, N, V int, scale float32) float64 {
	if len(logits) < N*V || len(targets) < N || (dlogits != nil && len(dlogits) < N*V) {
		panic("nn: CrossEntropy size mismatch")
	}
	defer Track(LossFamily)()
	parts := make([]float64, N)
	For(N, 3*V, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := logits[r*V : r*V+V]
			tgt := targets[r]
			if tgt < 0 {
				if dlogits != nil {
					clear(dlogits[r*V : r*V+V])
				}
				continue
			}
			mx := row[0]
			for _, x := range row[1:] {
				mx = max(mx, x)
			}
			var sum float64
			for _, x := range row {
				sum += math.Exp(float64(x - mx))
			}
			lse := float64(mx) + math.Log(sum)
			parts[r] = (lse - float64(row[tgt])) * float64(scale)
			if dlogits != nil {
				d := dlogits[r*V : r*V+V]
				for j, x := range row {
					d[j] = scale * float32(math.Exp(float64(x)-lse))
				}
				d[tgt] -= scale
			}
		}
	})
	var tot float64
	for _, p := range parts {
		tot += p
	}
	return tot
}
