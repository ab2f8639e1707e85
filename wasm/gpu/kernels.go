//go:build js && wasm

package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// kernels holds a device and its compiled pipelines, built on first use and cached by
// shader and override constants. Each op method records one dispatch as a step: the
// pipeline, a bind group over the given buffers and a small uniform buffer of sizes.
// Steps are built once per input shape and replayed for every call. A model holds
// its own copy (withMatmul) that shares the device and the pipeline cache.
type kernels struct {
	dev       *webgpu.Device
	pipelines map[string]*webgpu.ComputePipeline
	mm        matmulKernel // the shaders matmul records
}

// matmulKernel is one of the two families of matmul shaders, which compute the same
// product: registerMatmul (matmul.wgsl) is fast on SwiftShader, which compiles and runs
// workgroup barriers slowly; tiledMatmul (matmul_tiled.wgsl) shares tiles of x and W
// through workgroup memory, as real GPUs want. A model times both at load (chooseMatmul).
type matmulKernel int

const (
	registerMatmul matmulKernel = iota
	tiledMatmul
)

func (m matmulKernel) String() string {
	if m == tiledMatmul {
		return "tiled"
	}
	return "registers"
}

// step is one recorded dispatch.
type step struct {
	p       *webgpu.ComputePipeline
	bg      *webgpu.BindGroup
	x, y, z int
}

// weight is a matrix on the GPU in its checkpoint type.
type weight struct {
	buf        *webgpu.Buffer
	dt         checkpoint.DType // F32, Q8_0 or Q4_0
	rows, cols int              // (N, K)
}

func newKernels(dev *webgpu.Device) *kernels {
	return &kernels{dev: dev, pipelines: map[string]*webgpu.ComputePipeline{}}
}

// withMatmul is k recording matmuls with kernel mm, on the same device and pipeline cache.
func (k *kernels) withMatmul(mm matmulKernel) *kernels {
	c := *k
	c.mm = mm
	return &c
}

// pipeline compiles (once) the entry point "main" of the module joined from files, with
// the override constants.
func (k *kernels) pipeline(files []string, constants map[string]float64) (*webgpu.ComputePipeline, error) {
	return k.pipelineEntry(files, "main", constants)
}

// pipelineEntry is pipeline for a named entry point.
func (k *kernels) pipelineEntry(files []string, entry string, constants map[string]float64) (*webgpu.ComputePipeline, error) {
	keys := make([]string, 0, len(constants))
	for c := range constants {
		keys = append(keys, c)
	}
	sort.Strings(keys)
	key := strings.Join(files, "+")
	if entry != "main" {
		key += "." + entry
	}
	for _, c := range keys {
		key += fmt.Sprintf(" %s=%g", c, constants[c])
	}
	if p, ok := k.pipelines[key]; ok {
		return p, nil
	}
	label := files[len(files)-1]
	if strings.HasPrefix(label, "matmul") && len(files) > 1 {
		label = files[len(files)-2]
	}
	m, err := k.dev.CreateShaderModule(label, shaderSource(files...))
	if err != nil {
		return nil, err
	}
	p, err := k.dev.CreateComputePipeline(key, m, entry, constants)
	if err != nil {
		return nil, err
	}
	k.pipelines[key] = p
	return p, nil
}

// uniform makes a 16-byte-aligned uniform buffer holding words (uint32, int or float32).
func (k *kernels) uniform(words ...any) *webgpu.Buffer {
	n := (len(words) + 3) &^ 3
	b := make([]byte, 4*n)
	for i, w := range words {
		var u uint32
		switch v := w.(type) {
		case int:
			u = uint32(v)
		case uint32:
			u = v
		case float32:
			u = math.Float32bits(v)
		default:
			panic("gpu: uniform word of unsupported type")
		}
		binary.LittleEndian.PutUint32(b[4*i:], u)
	}
	buf := k.dev.CreateBuffer("params", len(b), webgpu.UsageUniform|webgpu.UsageCopyDst)
	k.dev.WriteBuffer(buf, 0, b)
	return buf
}

// bind binds bufs to @binding(0), @binding(1), ... in order.
func (k *kernels) bind(p *webgpu.ComputePipeline, bufs ...*webgpu.Buffer) *webgpu.BindGroup {
	b := make([]webgpu.Binding, len(bufs))
	for i, buf := range bufs {
		b[i] = webgpu.Binding{Binding: i, Buffer: buf}
	}
	return k.dev.CreateBindGroup(p, b...)
}

// dtypeCode is embed.wgsl's DTYPE override for each table type.
var dtypeCode = map[checkpoint.DType]float64{checkpoint.F32: 0, checkpoint.Q8_0: 1, checkpoint.Q4_0: 2}

// embed: out(L, D) = table[ids]; the table is (V, D) of type dt (F32, Q8_0 or Q4_0).
func (k *kernels) embed(ids, table *webgpu.Buffer, dt checkpoint.DType, out *webgpu.Buffer, L, D int) (step, error) {
	code, ok := dtypeCode[dt]
	if !ok {
		panic("gpu: embed of unsupported dtype")
	}
	p, err := k.pipeline([]string{"quant", "embed"}, map[string]float64{"DTYPE": code})
	if err != nil {
		return step{}, err
	}
	return step{p, k.bind(p, k.uniform(L, D), ids, table, out), ceilDiv(D, 64), L, 1}, nil
}

// matmulFormat is each weight type's file of the matmul shaders (matmul_<format>.wgsl
// and matmul_tiled_<format>.wgsl) and whether it needs quant.wgsl.
var matmulFormat = map[checkpoint.DType]struct {
	name  string
	quant bool
}{checkpoint.F32: {"f32", false}, checkpoint.Q8_0: {"q8_0", true}, checkpoint.Q4_0: {"q4_0", true}}

// matmul: out(M, N) = x(M, K) W^T, or out += x W^T with accumulate, by k.mm's shaders.
func (k *kernels) matmul(x *webgpu.Buffer, w weight, out *webgpu.Buffer, M int, accumulate bool) (step, error) {
	f, ok := matmulFormat[w.dt]
	if !ok {
		panic("gpu: matmul of unsupported dtype")
	}
	body, rowsPerGroup, colsPerGroup := "matmul", 8, 256
	if k.mm == tiledMatmul {
		body, rowsPerGroup, colsPerGroup = "matmul_tiled", 64, 64
	}
	var files []string
	if f.quant {
		files = append(files, "quant")
	}
	files = append(files, body+"_"+f.name, body)
	acc := 0.0
	if accumulate {
		acc = 1
	}
	p, err := k.pipeline(files, map[string]float64{"ACCUMULATE": acc})
	if err != nil {
		return step{}, err
	}
	N, K := w.rows, w.cols
	if K%4 != 0 {
		panic("gpu: matmul inner size not a multiple of 4")
	}
	return step{p, k.bind(p, k.uniform(M, N, K), x, w.buf, out), ceilDiv(N, colsPerGroup), ceilDiv(M, rowsPerGroup), 1}, nil
}

// rmsnorm: out = RMSNorm(x, w) over rows of (M, D).
func (k *kernels) rmsnorm(x, w, out *webgpu.Buffer, M, D int, eps float32) (step, error) {
	p, err := k.pipeline([]string{"rmsnorm"}, nil)
	if err != nil {
		return step{}, err
	}
	if D%4 != 0 {
		panic("gpu: rmsnorm width not a multiple of 4")
	}
	return step{p, k.bind(p, k.uniform(M, D, eps), x, w, out), ceilDiv(M, 64), 1, 1}, nil
}

// rope rotates q and k, (B*L, H*hd), in place with the (cos, sin) table cs: B sequences
// of L rows, each from position 0.
func (k *kernels) rope(cs, q, kk *webgpu.Buffer, B, L, H, hd int) (step, error) {
	p, err := k.pipeline([]string{"rope"}, nil)
	if err != nil {
		return step{}, err
	}
	return step{p, k.bind(p, k.uniform(B*L, L, H, hd), cs, q, kk), ceilDiv(H*hd/2, 64), B * L, 1}, nil
}

// attention: out = softmax(q k^T / sqrt(hd)) v per sequence and head, for B sequences of
// L rows (B*L, H*hd) that each attend within themselves, in three steps through the scores
// scratch s, (B, H, L, L) at least.
func (k *kernels) attention(q, kk, v, s, out *webgpu.Buffer, B, L, H, hd int, causal bool) ([]step, error) {
	if hd%4 != 0 {
		panic("gpu: attention head size not a multiple of 4")
	}
	c := 0.0
	if causal {
		c = 1
	}
	files := []string{"attention"}
	consts := map[string]float64{"CAUSAL": c}
	u := k.uniform(L, H, hd, float32(1/math.Sqrt(float64(hd))), B)
	b := func(n int, buf *webgpu.Buffer) webgpu.Binding { return webgpu.Binding{Binding: n, Buffer: buf} }
	var steps []step
	for _, e := range []struct {
		entry   string
		binds   []webgpu.Binding
		x, y, z int
	}{
		{"scores", []webgpu.Binding{b(0, u), b(1, q), b(2, kk), b(3, s)}, ceilDiv(L, 256), B * L, H},
		{"softmax", []webgpu.Binding{b(0, u), b(3, s)}, ceilDiv(B*H*L, 64), 1, 1},
		{"weighted", []webgpu.Binding{b(0, u), b(3, s), b(4, v), b(5, out)}, ceilDiv(hd, 256), B * L, H},
	} {
		p, err := k.pipelineEntry(files, e.entry, consts)
		if err != nil {
			return nil, err
		}
		steps = append(steps, step{p, k.dev.CreateBindGroup(p, e.binds...), e.x, e.y, e.z})
	}
	return steps, nil
}

// swiglu: gate = silu(gate) * up over n values.
func (k *kernels) swiglu(gate, up *webgpu.Buffer, n int) (step, error) {
	p, err := k.pipeline([]string{"swiglu"}, nil)
	if err != nil {
		return step{}, err
	}
	x, y := grid(n, 256)
	return step{p, k.bind(p, k.uniform(n), gate, up), x, y, 1}, nil
}

// shiftRows: dst (B*L, D) = src one row later within each of the B sequences (their row 0
// kept), the head's input under model.Config.Shift.
func (k *kernels) shiftRows(src, dst *webgpu.Buffer, B, L, D int) (step, error) {
	p, err := k.pipeline([]string{"shift_rows"}, nil)
	if err != nil {
		return step{}, err
	}
	x, y := grid(B*L*D, 256)
	return step{p, k.bind(p, k.uniform(B*L*D, D, L*D), src, dst), x, y, 1}, nil
}

// argmaxConf: out (L, 4 words) = token, prob, entropy, max logit per row of logits (L, V),
// leaving out token exclude.
func (k *kernels) argmaxConf(logits, out *webgpu.Buffer, L, V int, exclude int) (step, error) {
	p, err := k.pipeline([]string{"argmax_conf"}, nil)
	if err != nil {
		return step{}, err
	}
	return step{p, k.bind(p, k.uniform(L, V, exclude), logits, out), ceilDiv(L, 64), 1, 1}, nil
}

// timeEmbed: out (L, D) = the sinusoidal features of the rows' times t (L), f (D/2) the
// frequencies in turns per unit time.
func (k *kernels) timeEmbed(t, f, out *webgpu.Buffer, L, D int) (step, error) {
	p, err := k.pipeline([]string{"time_embed"}, nil)
	if err != nil {
		return step{}, err
	}
	return step{p, k.bind(p, k.uniform(L, D), t, f, out), ceilDiv(D/2, 64), L, 1}, nil
}

// bias: x = act(x + b) over count values, b repeating every n (a row's bias: n = width;
// an array of x's shape: n = count); act is SiLU with silu, else the identity.
func (k *kernels) bias(x, b *webgpu.Buffer, count, n int, silu bool) (step, error) {
	act := 0.0
	if silu {
		act = 1
	}
	p, err := k.pipeline([]string{"bias"}, map[string]float64{"SILU": act})
	if err != nil {
		return step{}, err
	}
	gx, gy := grid(count, 256)
	return step{p, k.bind(p, k.uniform(count, n), x, b), gx, gy, 1}, nil
}

// updateParams is gaussianUpdate's uniform buffer: count, D, then c0, ct, sd as written by
// setUpdate.
func (k *kernels) updateParams(count, D int, c0, ct, sd float32) *webgpu.Buffer {
	return k.uniform(count, D, c0, ct, sd)
}

// setUpdate rewrites the coefficients of an updateParams buffer.
func (k *kernels) setUpdate(u *webgpu.Buffer, c0, ct, sd float32) {
	k.dev.WriteBuffer(u, 8, f32Bytes([]float32{c0, ct, sd}))
}

// gaussianUpdate: z = c0 est + ct z + sd noise over (L, D), the rows known marks set to
// clean; params from updateParams.
func (k *kernels) gaussianUpdate(params, z, est, noise, clean, known *webgpu.Buffer, count int) (step, error) {
	p, err := k.pipeline([]string{"gaussian_update"}, nil)
	if err != nil {
		return step{}, err
	}
	gx, gy := grid(count, 256)
	return step{p, k.bind(p, params, z, est, noise, clean, known), gx, gy, 1}, nil
}

// concatRows: out (L, A+B) = [a row, b row].
func (k *kernels) concatRows(a, b, out *webgpu.Buffer, L, A, B int) (step, error) {
	p, err := k.pipeline([]string{"concat_rows"}, nil)
	if err != nil {
		return step{}, err
	}
	gx, gy := grid(L*(A+B), 256)
	return step{p, k.bind(p, k.uniform(L*(A+B), A, B), a, b, out), gx, gy, 1}, nil
}

// run records steps into one compute pass, then the copies, and submits.
func (k *kernels) run(steps []step, copies ...copyOp) {
	enc := k.dev.CreateCommandEncoder()
	pass := enc.BeginComputePass()
	for _, s := range steps {
		pass.Dispatch(s.p, s.bg, s.x, s.y, s.z)
	}
	pass.End()
	for _, c := range copies {
		enc.CopyBufferToBuffer(c.src, 0, c.dst, 0, c.size)
	}
	enc.Submit()
}

// copyOp copies size bytes from the start of src to the start of dst.
type copyOp struct {
	src, dst *webgpu.Buffer
	size     int
}

// storage makes a storage buffer of n float32s (or words), optionally readable by copy.
func (k *kernels) storage(label string, words int) *webgpu.Buffer {
	return k.dev.CreateBuffer(label, 4*words, webgpu.UsageStorage|webgpu.UsageCopyDst|webgpu.UsageCopySrc)
}

// upload makes a storage buffer holding data, padded to whole words plus one spare zero
// word (the quantised matmuls read one word past a block's last byte).
func (k *kernels) upload(label string, data []byte) *webgpu.Buffer {
	data = padded(data)
	b := k.dev.CreateBuffer(label, len(data), webgpu.UsageStorage|webgpu.UsageCopyDst|webgpu.UsageCopySrc)
	k.dev.WriteBuffer(b, 0, data)
	return b
}

// staging makes a buffer to read size bytes back to the CPU.
func (k *kernels) staging(label string, size int) *webgpu.Buffer {
	return k.dev.CreateBuffer(label, size, webgpu.UsageMapRead|webgpu.UsageCopyDst)
}
