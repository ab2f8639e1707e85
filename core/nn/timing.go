package nn

import "time"

// Family is a kind of kernel, for the time split of a training step (the benchmark
// prints it so the next person sees what limits a step).
type Family int

const (
	GEMM        Family = iota // the weight products (Linear and its backward)
	AttnFamily                // attention: its score and value products and its softmax
	Elementwise               // RMSNorm, RoPE, SwiGLU, residual adds, embedding, dropout
	LossFamily                // the softmax cross-entropy over the vocabulary
	Optimizer                 // gradient clipping and AdamW
	NumFamilies
)

var familyNames = [NumFamilies]string{"gemm", "attention", "elementwise", "loss", "optimizer"}

func (f Family) String() string { return familyNames[f] }

// Times accumulates the wall time spent in each family while it is not nil; nil (the
// default) turns the hook off, and then Track costs one comparison. The kernels are
// called from one goroutine at a time (a model is not safe for concurrent use), so the
// counters need no lock; set it only between steps.
var Times *[NumFamilies]time.Duration

// Track starts timing family f; call the returned function when the kernel ends:
//
//	defer nn.Track(nn.GEMM)()
func Track(f Family) func() {
	if Times == nil {
		return nop
	}
	t0 := time.Now()
	return func() { Times[f] += time.Since(t0) }
}

func nop() {}
