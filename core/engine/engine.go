package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// GPU is a model on a graphics card: for a masked or autoregressive model's file a
// sample.Denoiser, for a continuous model's a ContinuousGPU. The engine closes it when the
// self-test fails.
type GPU interface {
	// Name says which adapter runs it, for the UI.
	Name() string
	Close()
}

// ContinuousGPU is a continuous model's denoiser and decoder on a graphics card.
type ContinuousGPU interface {
	GPU
	continuous.Backend
	// Logits is the decoder's logits (L, V) of the current estimate, for the self-test.
	Logits() ([]float32, error)
}

// KernelChooser is a GPU that chose its matrix-product kernel at load by timing one
// forward pass with each candidate (a tiled kernel for real GPUs, a register one for
// software adapters); the engine shows the choice in Info.
type KernelChooser interface {
	// MatmulKernels is the kernel that runs and each candidate's seconds for one
	// forward pass over positions positions.
	MatmulKernels() (kernel string, positions int, seconds map[string]float64)
}

// OpenGPU builds a GPU model from a decoded release file; cfg is the file's own network's
// (a continuous model's denoiser). It returns an error when the browser has no usable
// adapter; the engine then runs on the CPU.
type OpenGPU func(f *checkpoint.File, cfg model.Config) (GPU, error)

// SelfTestTol bounds max |gpu - cpu| over the self-test's logits. Both paths dequantise
// Q8_0 and Q4_0 blocks to the same float32 values (a scale times a small integer is exact
// in float32), so they differ only in summation order and the bound is the same for f32,
// Q8_0 and Q4_0 weights.
const SelfTestTol = 1e-3

// Info describes a loaded model and the backend it runs on.
type Info struct {
	Backend      string       `json:"backend"`      // the default backend: adapter name, or "CPU (wasm)"
	GPU          bool         `json:"gpu"`          // whether Backend is a GPU
	Fallback     string       `json:"fallback"`     // why the CPU is the default, "" on the GPU
	GPUName      string       `json:"gpuName"`      // the GPU that passed the self-test, or ""
	GPUPending   bool         `json:"gpuPending"`   // the GPU is starting (StartGPU): samples run on the CPU meanwhile
	CPUName      string       `json:"cpuName"`      // the CPU backend's name
	SelfTestDiff float64      `json:"selfTestDiff"` // max |gpu-cpu| logit (continuous: relative, see ContinuousSelfTest), -1 when not run
	GPUSeconds   float64      `json:"gpuSeconds"`   // the self-test's forward pass on the GPU
	CPUSeconds   float64      `json:"cpuSeconds"`   // and on the CPU
	Config       model.Config `json:"config"`
	CPUKernel    string       `json:"cpuKernel"` // core/blas's backend for the CPU model, e.g. "wasm-simd"
	DType        string       `json:"dtype"`     // the dtype of most matrix bytes, e.g. "q8_0"
	Params       int          `json:"params"`    // parameter count
	Bytes        int          `json:"bytes"`     // size of the release file
	// Kind is the paradigm: "masked", "autoregressive" or "continuous" (Config is then the
	// denoiser's, Decoder the decoder's).
	Kind    string        `json:"kind"`
	Decoder *model.Config `json:"decoder,omitempty"`
	// MatmulKernel is the GPU's matrix-product kernel (KernelChooser), "" if it has no
	// choice; MatmulSeconds is each candidate's time at load for one forward pass over
	// MatmulPositions positions.
	MatmulKernel    string             `json:"matmulKernel"`
	MatmulSeconds   map[string]float64 `json:"matmulSeconds,omitempty"`
	MatmulPositions int                `json:"matmulPositions,omitempty"`
}

// Engine is a loaded model ready to sample. Sample may not run twice at once, but may run
// while StartGPU's goroutine starts the GPU.
type Engine struct {
	cfg  model.Config
	tok  *tokenizer.Tokenizer
	cpu  *model.Model      // nil for a continuous model
	cont *continuous.Model // a continuous model's networks, else nil
	// cpuBusy is held by whoever runs the CPU model (cpu or cont), whose forward pass
	// works in the model's own buffers: a sample, or the self-test's reference pass.
	cpuBusy sync.Mutex
	// selfTest compares a GPU with the CPU model (under cpuBusy): the masked or the
	// continuous model's test.
	selfTest func(GPU) (SelfTestResult, error)

	mu       sync.Mutex       // guards what follows: StartGPU's goroutine sets it
	gpu      GPU              // nil unless it passed the self-test
	useGPU   bool             // the default backend
	info     Info             // what Info returns
	file     *checkpoint.File // the decoded release file, until StartGPU has uploaded it
	gpuReady chan struct{}    // closed when StartGPU has settled; nil before it starts
}

// SlowGPU is how many times slower than the CPU the GPU's self-test forward pass may be
// before the CPU becomes the default: a software adapter (SwiftShader) passes the
// self-test but runs far slower than WebAssembly SIMD on the same cores.
const SlowGPU = 2

// Load verifies a release file (header, manifest, size and payload SHA-256), decodes it
// and builds the CPU model for inference only (no gradient arena); if open is not nil it also tries the GPU and keeps it when
// one forward pass on a fixed input matches the CPU within SelfTestTol. The GPU is the
// default backend unless that pass took over SlowGPU times the CPU's; either way a
// request may ask for the other. progress, if not nil, is told each phase as it starts.
// It is LoadCPU, then StartGPU waited for.
func Load(data []byte, open OpenGPU, progress func(phase string)) (*Engine, error) {
	return LoadWithEncoder(data, nil, open, progress)
}

// LoadWithEncoder is Load for a continuous model whose file refers to its encoder's file
// (continuous.EncoderFileNote: the released masked model) instead of holding it: encoder
// is that file's bytes, checked against the reference's SHA-256. It is ignored for a file
// that needs none.
func LoadWithEncoder(data, encoder []byte, open OpenGPU, progress func(phase string)) (*Engine, error) {
	e, err := LoadCPUWithEncoder(data, encoder, false, progress)
	if err != nil {
		return nil, err
	}
	if open == nil {
		e.info.Fallback, e.file = "no GPU support in this build", nil // no GPU will want the file
		return e, nil
	}
	<-e.StartGPU(open, progress)
	return e, nil
}

// say tells progress, if not nil, that phase starts.
func say(progress func(phase string), phase string) {
	if progress != nil {
		progress(phase)
	}
}

// LoadCPU decodes a release file and builds the CPU model, ready to sample; the GPU, if
// any, comes later (StartGPU), so that the first sample need not wait for it. It checks
// the header, the manifest and the sizes, and the payload's SHA-256 unless checked is
// set: the caller has checked data against a hash of the whole file that it trusts (the
// page, against the site's asset list, in the browser's native SHA-256).
func LoadCPU(data []byte, checked bool, progress func(phase string)) (*Engine, error) {
	return LoadCPUWithEncoder(data, nil, checked, progress)
}

// LoadCPUWithEncoder is LoadCPU with the bytes of the encoder file a continuous model may
// refer to (see LoadWithEncoder).
func LoadCPUWithEncoder(data, encoder []byte, checked bool, progress func(phase string)) (*Engine, error) {
	decode := checkpoint.Decode // hashes the payload once, then decompresses it
	if checked {
		decode = checkpoint.DecodeChecked
		say(progress, "decoding")
	} else {
		say(progress, "verifying and decoding")
	}
	f, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if len(f.Tokenizer) == 0 {
		return nil, errors.New("weights: the file carries no tokenizer")
	}
	say(progress, "reading the tokenizer")
	tok, err := tokenizer.Parse(f.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if f.Notes["kind"] == continuous.Kind {
		say(progress, "building the CPU model")
		return loadContinuous(f, encoder, tok, len(data))
	}
	say(progress, "building the CPU model")
	m, err := model.FromFileInference(f)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if tok.Vocab() != m.Cfg.Vocab {
		return nil, fmt.Errorf("weights: tokenizer has %d ids, model %d", tok.Vocab(), m.Cfg.Vocab)
	}
	e := &Engine{cfg: m.Cfg, tok: tok, cpu: m, file: f}
	e.info = Info{Backend: cpuName(), CPUName: cpuName(), SelfTestDiff: -1, Config: m.Cfg, DType: mainDType(f), CPUKernel: blas.Name(),
		Params: m.Cfg.NumParams(), Bytes: len(data), Fallback: "the GPU has not been started", Kind: "masked"}
	if m.Cfg.Causal {
		e.info.Kind = "autoregressive"
	}
	e.selfTest = func(g GPU) (SelfTestResult, error) {
		d, ok := g.(sample.Denoiser)
		if !ok {
			return SelfTestResult{MaxDiff: -1}, errors.New("the GPU backend does not run this model")
		}
		return SelfTest(d, e.cfg, e.cpuLogits)
	}
	return e, nil
}

// StartGPU opens the GPU on a goroutine of its own and keeps it when one forward pass on
// a fixed input matches the CPU model's within SelfTestTol; it makes the GPU the default
// backend unless that pass took over SlowGPU times the CPU's. Meanwhile samples run on
// the CPU, and one that asks for the GPU waits for the outcome. The returned channel is
// closed once Info says it. progress, if not nil, is told each phase as it starts. Call
// it once.
func (e *Engine) StartGPU(open OpenGPU, progress func(phase string)) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gpuReady != nil {
		return e.gpuReady
	}
	done := make(chan struct{})
	e.gpuReady = done
	e.info.GPUPending, e.info.Fallback = true, "the GPU is starting"
	f := e.file
	go func() {
		defer close(done)
		fallback := e.startGPU(open, f, progress)
		e.mu.Lock()
		defer e.mu.Unlock()
		e.info.GPUPending, e.info.Fallback, e.file = false, fallback, nil
		if e.useGPU {
			e.info.Backend, e.info.GPU = e.info.GPUName, true
		}
	}()
	return done
}

// startGPU is StartGPU's work: it opens and checks the GPU, keeps it (e.gpu, and
// e.useGPU when it is the default) and returns why the CPU stays the default, or "".
func (e *Engine) startGPU(open OpenGPU, f *checkpoint.File, progress func(phase string)) (fallback string) {
	say(progress, "starting GPU")
	g, err := open(f, e.info.Config)
	if err != nil {
		return err.Error()
	}
	say(progress, "GPU self-test")
	r, err := e.selfTest(g)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.info.SelfTestDiff, e.info.GPUSeconds, e.info.CPUSeconds = r.MaxDiff, r.GPU.Seconds(), r.CPU.Seconds()
	if kc, ok := g.(KernelChooser); ok {
		e.info.MatmulKernel, e.info.MatmulPositions, e.info.MatmulSeconds = kc.MatmulKernels()
	}
	switch {
	case err != nil:
		fallback = "GPU self-test: " + err.Error()
	case !(r.MaxDiff <= SelfTestTol):
		fallback = fmt.Sprintf("GPU self-test: max difference %.3g exceeds %.0e", r.MaxDiff, SelfTestTol)
	default:
		e.gpu = g
		e.info.GPUName = g.Name()
		if r.GPU > SlowGPU*r.CPU {
			return fmt.Sprintf("%s took %.0f ms for the self-test's forward pass, the CPU %.0f ms",
				g.Name(), 1000*r.GPU.Seconds(), 1000*r.CPU.Seconds())
		}
		e.useGPU = true
		return ""
	}
	g.Close()
	return fallback
}

// cpuLogits runs the CPU model once, waiting for a sample that holds it to end.
func (e *Engine) cpuLogits(ids []int32) ([]float32, error) {
	e.cpuBusy.Lock()
	defer e.cpuBusy.Unlock()
	return e.cpu.Logits(ids)
}

func cpuName() string {
	if runtime.GOARCH == "wasm" {
		return "CPU (wasm)"
	}
	return "CPU (" + runtime.GOARCH + ")"
}

// mainDType is the dtype holding most of the file's tensor bytes.
func mainDType(f *checkpoint.File) string {
	bytes := map[checkpoint.DType]int{}
	for _, t := range f.Tensors {
		n := len(t.Raw)
		if t.DType == checkpoint.F32 {
			n = 4 * len(t.F32)
		}
		bytes[t.DType] += n
	}
	best, most := checkpoint.F32, -1
	for dt, n := range bytes {
		if n > most || n == most && dt < best {
			best, most = dt, n
		}
	}
	return best.String()
}

// SelfTestIDs is the fixed input of the self-test: up to 32 ordinary tokens spread over
// the vocabulary with every third position masked, as during sampling.
func SelfTestIDs(cfg model.Config) []int32 {
	n := min(cfg.SeqLen, 32)
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32((uint64(i)*2654435761 + 12345) % uint64(cfg.Vocab-2))
		if i%3 == 2 {
			ids[i] = cfg.MaskID()
		}
	}
	return ids
}

// SelfTestResult is what SelfTest measured.
type SelfTestResult struct {
	MaxDiff  float64       // largest |gpu - cpu| logit; +Inf for NaN, -1 when not measured
	GPU, CPU time.Duration // each one's forward pass, the faster of two
}

// SelfTest runs the GPU and the CPU model of cfg (cpu: its Logits) on SelfTestIDs and
// compares their logits.
func SelfTest(g sample.Denoiser, cfg model.Config, cpu func(ids []int32) ([]float32, error)) (SelfTestResult, error) {
	r := SelfTestResult{MaxDiff: -1}
	ids := SelfTestIDs(cfg)
	// Each side runs twice and the faster pass counts: one pause (a garbage collection, a
	// shader or JIT compile) in a single pass would otherwise choose the backend.
	var want, got []float32
	var err error
	for range 2 {
		t0 := time.Now()
		if want, err = cpu(ids); err != nil {
			return r, err
		}
		r.CPU = fastest(r.CPU, time.Since(t0))
		t0 = time.Now()
		if got, err = g.Logits(ids); err != nil {
			return r, err
		}
		r.GPU = fastest(r.GPU, time.Since(t0))
	}
	if len(got) != len(want) {
		r.MaxDiff = math.Inf(1)
		return r, fmt.Errorf("GPU returned %d logits, want %d", len(got), len(want))
	}
	r.MaxDiff = maxDiff(got, want)
	return r, nil
}

// fastest is the shorter of two durations, a zero one meaning not yet measured.
func fastest(a, b time.Duration) time.Duration {
	if a == 0 {
		return b
	}
	return min(a, b)
}

// Info describes the model and backend.
func (e *Engine) Info() Info {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.info
}

// InfoJSON is Info as JSON, for the JS side.
func (e *Engine) InfoJSON() string {
	b, _ := json.Marshal(e.Info())
	return string(b)
}

// Tokenizer is the model's tokenizer.
func (e *Engine) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Close frees the GPU, if any.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gpu != nil {
		e.gpu.Close()
		e.gpu = nil
	}
}

// denoiser picks the backend a request asks for: "gpu", "cpu" or "" for the default, and
// says whether it is the GPU. A request for the GPU waits while it starts (StartGPU); one
// for the default takes the CPU meanwhile.
func (e *Engine) denoiser(ctx context.Context, backend string) (d sample.Denoiser, name string, gpu bool, err error) {
	onGPU, err := e.onGPU(ctx, backend)
	if err != nil {
		return nil, "", false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if onGPU && e.gpu != nil {
		return e.gpu.(sample.Denoiser), e.info.GPUName, true, nil
	}
	if onGPU {
		return nil, "", false, errors.New("no GPU backend: " + e.info.Fallback)
	}
	return e.cpu, e.info.CPUName, false, nil
}

// onGPU says whether a request for backend ("gpu", "cpu" or "" for the default) runs on
// the GPU; one for the GPU waits while it starts.
func (e *Engine) onGPU(ctx context.Context, backend string) (bool, error) {
	e.mu.Lock()
	starting := e.gpuReady
	e.mu.Unlock()
	if backend == "gpu" && starting != nil {
		select {
		case <-starting:
		case <-ctx.Done():
			return false, ErrCanceled
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case backend == "gpu" && e.gpu == nil:
		return false, errors.New("no GPU backend: " + e.info.Fallback)
	case backend == "gpu" || backend == "" && e.useGPU:
		return true, nil
	case backend == "cpu" || backend == "":
		return false, nil
	}
	return false, fmt.Errorf("backend %q: want gpu, cpu or empty", backend)
}

// dropGPU closes a GPU that failed in the middle of a sample (most often a lost device:
// the browser reclaimed its memory, or the driver reset) and leaves the CPU as the only
// backend for this and later samples. It returns the CPU model (nil for a continuous one).
func (e *Engine) dropGPU(err error) sample.Denoiser {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gpu != nil {
		e.gpu.Close()
		e.gpu = nil
	}
	e.useGPU = false
	e.info.Backend, e.info.GPU, e.info.GPUName = e.info.CPUName, false, ""
	e.info.Fallback = "the GPU failed during a sample: " + err.Error()
	return e.cpu
}

// ErrCanceled is returned by Sample when its context is canceled.
var ErrCanceled = errors.New("sampling canceled")

// guarded stops a sampler between network calls once ctx is done, and counts the calls
// and the sequences they evaluated. On the GPU it also survives the GPU's failure: the
// failed call runs again on the CPU model and so do the rest. A network call is a pure
// function of its input, so the sample goes on from the state it had (every token written
// so far stays) and, the GPU and CPU agreeing within SelfTestTol, writes what it would have.
type guarded struct {
	ctx  context.Context
	d    sample.Denoiser
	nfe  int
	rows int
	// onGPUFailure, set while d is the GPU, drops it and returns the CPU model.
	onGPUFailure func(error) sample.Denoiser
	fallback     string    // why the sample moved to the CPU; "" while it has not
	picked       []float32 // RowLogits's rows, picked out of a full call's logits
}

func guard(ctx context.Context, d sample.Denoiser) *guarded { return &guarded{ctx: ctx, d: d} }

func (g *guarded) Logits(ids []int32) ([]float32, error) {
	return g.call(1, func(d sample.Denoiser) ([]float32, error) { return d.Logits(ids) })
}

// RowLogits makes g a sample.RowDenoiser: the CPU model runs its head on rows only; a
// denoiser without RowLogits (the GPU) computes every row and the rows are picked out.
func (g *guarded) RowLogits(ids, rows []int32) ([]float32, error) {
	return g.call(1, func(d sample.Denoiser) ([]float32, error) {
		if rd, ok := d.(sample.RowDenoiser); ok {
			return rd.RowLogits(ids, rows)
		}
		l, err := d.Logits(ids)
		if err != nil {
			return nil, err
		}
		v := d.Vocab()
		g.picked = g.picked[:0]
		for _, r := range rows {
			g.picked = append(g.picked, l[int(r)*v:int(r+1)*v]...)
		}
		return g.picked, nil
	})
}

// call runs one network call of rows sequences on g's denoiser; when the GPU fails, it
// moves the sample to the CPU and runs the call again there.
func (g *guarded) call(rows int, run func(sample.Denoiser) ([]float32, error)) ([]float32, error) {
	if g.ctx.Err() != nil {
		return nil, ErrCanceled
	}
	g.nfe++
	g.rows += rows
	l, err := run(g.d)
	if err != nil && g.onGPUFailure != nil {
		g.fallback = fmt.Sprintf("the GPU failed after %d network calls (%v); the sample went on on the CPU", g.nfe-1, err)
		g.d = g.onGPUFailure(err)
		g.onGPUFailure = nil
		return run(g.d)
	}
	return l, err
}

func (g *guarded) Vocab() int { return g.d.Vocab() }

// guardedBatch is guarded over a denoiser that evaluates several sequences in one call
// (the CPU model, and the GPU's one pass over the batch): a batch counts as one call of B
// rows. A GPU that fails in a batch leaves the sample to the CPU model, as in Logits.
type guardedBatch struct{ *guarded }

func (g guardedBatch) BatchLogits(ids []int32, B int) ([]float32, error) {
	return g.call(B, func(d sample.Denoiser) ([]float32, error) {
		bd, ok := d.(sample.BatchDenoiser)
		if !ok {
			return nil, errors.New("engine: the CPU model has no batched forward")
		}
		return bd.BatchLogits(ids, B)
	})
}

// batched is g as a sample.BatchDenoiser when its denoiser is one (the CPU model, the GPU's
// Denoiser); otherwise g, which the speculative sampler then calls once per sequence.
func (g *guarded) batched() sample.Denoiser {
	if _, ok := g.d.(sample.BatchDenoiser); ok {
		return guardedBatch{g}
	}
	return g
}
