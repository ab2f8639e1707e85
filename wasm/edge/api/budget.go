package api

import (
	"fmt"

	"github.com/austen-diffusion/textdiffusion/core/model"
)

// Budget is the CPU time one request may use and the measured speeds that predict a
// sampling request's cost from its settings alone, so that a request that cannot fit is
// refused before any work. Workers stop a request at its plan's CPU limit (10 ms on the
// free plan; 30 s by default on the paid plan, up to 5 minutes), and a stopped request
// is an error page, so refusing up front with the reason is the honest answer.
type Budget struct {
	CPUms    float64 // this deployment's limit per request (0: no limit)
	GFLOPS   float64 // forward-pass rate of the worker's CPU path (wasm SIMD kernel), GFLOP/s
	LoadMBps float64 // release-file megabytes per second that a cold isolate verifies, decodes and dequantises
	BaseMs   float64 // fixed cost of a sampling request: JSON, tokenizer, sampler bookkeeping
}

// ForwardFLOPs is one forward pass over n positions: 2 per weight per position for every
// matrix (the head's included, the embedding lookup's not) and 4 n^2 D per layer for
// attention's two products.
func ForwardFLOPs(c model.Config, n int) float64 {
	D, F, V := float64(c.Dim), float64(c.Hidden), float64(c.Vocab)
	perPos := 2 * (float64(c.Layers)*(4*D*D+3*D*F) + V*D)
	return float64(n)*perPos + float64(c.Layers)*4*float64(n)*float64(n)*D
}

// Estimate is an upper bound of a request's CPU milliseconds: at most steps network calls
// (never more than one per sampled token) over at most promptBytes + length positions
// (a token holds at least one byte; the window caps both), plus the model's load when
// this isolate has not loaded it yet.
func (b Budget) Estimate(md Model, promptBytes, length, steps int, loaded bool) float64 {
	n := min(md.Config.SeqLen, promptBytes+length)
	calls := min(steps, length)
	ms := b.BaseMs
	if b.GFLOPS > 0 {
		ms += float64(calls) * ForwardFLOPs(md.Config, n) / (b.GFLOPS * 1e6)
	}
	if !loaded && b.LoadMBps > 0 {
		ms += float64(md.Bytes) / (b.LoadMBps * 1e3)
	}
	return ms
}

// Fits reports whether an estimate is within the limit.
func (b Budget) Fits(ms float64) bool { return b.CPUms <= 0 || ms <= b.CPUms }

// Refusal says why a request of estimate ms does not fit.
func (b Budget) Refusal(ms float64) string {
	return fmt.Sprintf("this request needs about %.0f ms of CPU (estimated before running it) and this deployment allows %.0f ms per request; "+
		"ask for fewer steps, fewer tokens or a shorter prompt (the free plan's 10 ms fits no sampling; the paid plan allows up to 300000)", ms, b.CPUms)
}

// Measured is the budget of the worker as measured on workerd here (build/edge's TestLoad,
// CPU time of the workerd process on a shared 2-core machine), rounded to the safe side
// so the estimate bounds the cost: a forward pass ran at about 16 GFLOP/s (10 here), a
// cold isolate loaded the 7.9 MB Q8_0 model in about 665 ms (10 MB/s here), and the
// smallest sample (1 token, 1 step) took 7-11 ms (8 here, plus its one call). CPUms is
// the paid plan's default limit.
var Measured = Budget{CPUms: 30000, GFLOPS: 10, LoadMBps: 10, BaseMs: 8}
