package sample

import "math"

// CosineGrid returns how many of n masked tokens to commit at each of steps steps on the
// cosine grid (Fisher-Rao optimal, Zhang 2025): the masked fraction at grid point i of T is
// t(i) = cos^2(pi/2 (1 - i/T)); walking i = T..1, step T-i+1 commits
// round(n t(i)) - round(n t(i-1)). Entries may be 0 (such a step costs no network call);
// they sum to n. Rounding is half away from zero.
func CosineGrid(n, steps int) []int {
	if n < 0 || steps < 1 {
		panic("sample: CosineGrid needs n >= 0 and steps >= 1")
	}
	left := func(i int) int { // masked tokens left at grid point i
		c := math.Cos(math.Pi / 2 * (1 - float64(i)/float64(steps)))
		return int(math.Round(float64(n) * c * c))
	}
	out := make([]int, steps)
	for i := steps; i >= 1; i-- {
		out[steps-i] = left(i) - left(i-1)
	}
	// left(T) = n and left(0) = 0 exactly (cos(0) = 1, n cos^2(pi/2) < 1e-30), so the sum is n.
	return out
}

// LinearGrid is LLaDA's get_num_transfer_tokens: n/steps tokens at each step, the remainder
// one each over the first steps.
func LinearGrid(n, steps int) []int {
	if n < 0 || steps < 1 {
		panic("sample: LinearGrid needs n >= 0 and steps >= 1")
	}
	out := make([]int, steps)
	for i := range out {
		out[i] = n / steps
		if i < n%steps {
			out[i]++
		}
	}
	return out
}
