//go:build js && wasm

package gpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/core/quant"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// Tolerances. f32 ops: max |gpu - cpu| <= relTol * max |cpu| over the tensor (summation
// order and the GPU's exp differ from the CPU's). Dequantised weights: bit for bit.
const relTol = 1e-4

var (
	sharedOnce    sync.Once
	sharedKernels *kernels
	sharedInfo    webgpu.AdapterInfo
	sharedErr     error
)

// testKernels returns one device shared by the op tests, or skips when the browser has
// no WebGPU adapter.
func testKernels(t testing.TB) *kernels {
	t.Helper()
	sharedOnce.Do(func() {
		ad, err := webgpu.RequestAdapter()
		if err != nil {
			sharedErr = err
			return
		}
		dev, err := ad.RequestDevice(deviceLimits(ad))
		if err != nil {
			sharedErr = err
			return
		}
		sharedKernels, sharedInfo = newKernels(dev), ad.Info()
	})
	if errors.Is(sharedErr, webgpu.ErrNoWebGPU) {
		t.Skip("skipping: this browser has no WebGPU adapter (run in Chromium with --enable-unsafe-webgpu, see build/wasmtest.sh)")
	}
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedKernels
}

func TestAdapter(t *testing.T) {
	testKernels(t)
	t.Logf("adapter: %s (%+v)", sharedInfo.Name(), sharedInfo)
}

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// runRead runs steps and returns the first n words of buf as float32s.
func runRead(t *testing.T, k *kernels, steps []step, buf *webgpu.Buffer, n int) []float32 {
	t.Helper()
	st := k.staging("test read", 4*n)
	defer st.Destroy()
	k.dev.PushErrorScope("validation")
	k.run(steps, copyOp{buf, st, 4 * n})
	if err := k.dev.PopErrorScope(); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, n)
	if err := k.dev.ReadBuffer(st, f32Bytes(out)); err != nil {
		t.Fatal(err)
	}
	return out
}

func must(t *testing.T) func(step, error) step {
	return func(s step, err error) step {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// checkClose fails unless max|got-want| <= tol * max|want|, and returns the ratio.
func checkClose(t *testing.T, what string, got, want []float32, tol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var maxErr, maxRef float64
	worst := 0
	for i := range want {
		if math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: NaN at %d", what, i)
		}
		e := math.Abs(float64(got[i] - want[i]))
		if e > maxErr {
			maxErr, worst = e, i
		}
		maxRef = math.Max(maxRef, math.Abs(float64(want[i])))
	}
	rel := maxErr / math.Max(maxRef, 1e-30)
	if rel > tol {
		t.Errorf("%s: max |gpu-cpu| = %g at %d (gpu %g, cpu %g) = %.3g of max |cpu| %g, want <= %g",
			what, maxErr, worst, got[worst], want[worst], rel, maxRef, tol)
	}
	return rel
}

func checkBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %g (%#08x), want %g (%#08x)", what, i,
				got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

func checkEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: element %d is %g (%#08x), want %g (%#08x)", what, i,
				got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// quantized returns v stored as dt (raw bytes; f32 as its little-endian bytes) and its
// dequantised values by the scalar reference (core/quant).
func quantized(dt checkpoint.DType, v []float32) ([]byte, []float32) {
	deq := make([]float32, len(v))
	switch dt {
	case Q8_0:
		b := make([]byte, len(v)/quant.QK*quant.BlockSizeQ8_0)
		quant.QuantizeQ8_0(b, v)
		quant.DequantizeQ8_0(deq, b)
		return b, deq
	case Q4_0:
		b := make([]byte, len(v)/quant.QK*quant.BlockSizeQ4_0)
		quant.QuantizeQ4_0(b, v)
		quant.DequantizeQ4_0(deq, b)
		return b, deq
	}
	copy(deq, v)
	return append([]byte(nil), f32Bytes(v)...), deq
}

// withSpecialScales overwrites a few block scales with a half subnormal, a negative
// scale and zero, so the shader's fp16 decoding is tested beyond ordinary values.
func withSpecialScales(dt checkpoint.DType, b []byte) {
	size := quant.BlockSizeQ8_0
	if dt == Q4_0 {
		size = quant.BlockSizeQ4_0
	}
	for i, h := range []uint16{0x0001, 0x03ff, 0x8200, 0xbc00, 0x0000, 0x7bff} {
		if (i+1)*size*3 <= len(b) {
			o := i * size * 3
			b[o], b[o+1] = byte(h), byte(h>>8)
		}
	}
}

// dequant decodes blocks with the scalar reference.
func dequant(dt checkpoint.DType, b []byte, n int) []float32 {
	out := make([]float32, n)
	switch dt {
	case Q8_0:
		quant.DequantizeQ8_0(out, b)
	case Q4_0:
		quant.DequantizeQ4_0(out, b)
	default:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return out
}

const (
	F32  = checkpoint.F32
	F16  = checkpoint.F16
	Q8_0 = checkpoint.Q8_0
	Q4_0 = checkpoint.Q4_0
)

func TestEmbed(t *testing.T) {
	k := testKernels(t)
	r := rand.New(rand.NewPCG(1, 2))
	const V, D = 41, 96
	ids := []int32{3, 0, 40, 17, 17, 5, 39}
	idw := make([]uint32, len(ids))
	for i, id := range ids {
		idw[i] = uint32(id)
	}
	idBuf := k.upload("ids", u32Bytes(idw))
	out := k.storage("out", len(ids)*D)
	for _, dt := range []checkpoint.DType{F32, Q8_0, Q4_0} {
		b, _ := quantized(dt, randVec(r, V*D, 1))
		if dt != F32 {
			withSpecialScales(dt, b)
		}
		deq := dequant(dt, b, V*D)
		want := make([]float32, len(ids)*D)
		nn.Embed(want, deq, ids, V, D)
		s := must(t)(k.embed(idBuf, k.upload("table", b), dt, out, len(ids), D))
		got := runRead(t, k, []step{s}, out, len(ids)*D)
		checkBits(t, "embed "+dt.String(), got, want)
	}
}

// bothMatmuls is the two matmul kernels, each on the tests' shared device.
func bothMatmuls(k *kernels) []*kernels {
	return []*kernels{k.withMatmul(registerMatmul), k.withMatmul(tiledMatmul)}
}

// TestMatmul checks both kernels against the CPU, plain and accumulating, for each
// weight type, on shapes that are not whole tiles of either (M = 1, K = 32, N past a
// tile, a long K), and the tiled kernel against the register one.
func TestMatmul(t *testing.T) {
	k := testKernels(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][3]int{{1, 32, 5}, {37, 44, 70}, {9, 4, 257}, {130, 96, 65}, {67, 64, 128}, {3, 2048, 20}} {
		M, K, N := sz[0], sz[1], sz[2]
		for _, dt := range []checkpoint.DType{F32, Q8_0, Q4_0} {
			if dt != F32 && K%32 != 0 {
				continue
			}
			b, deq := quantized(dt, randVec(r, N*K, 1))
			x, prev := randVec(r, M*K, 1), randVec(r, M*N, 1)
			want := make([]float32, M*N)
			nn.Linear(want, x, deq, M, K, N)
			wantAcc := make([]float32, M*N)
			nn.Add(wantAcc, prev, want)
			xb, out := k.upload("x", f32Bytes(x)), k.storage("out", M*N)
			wt := weight{buf: k.upload("w", b), dt: dt, rows: N, cols: K}
			var first []float32
			for _, km := range bothMatmuls(k) {
				what := fmt.Sprintf("matmul %s %s M=%d K=%d N=%d", km.mm, dt, M, K, N)
				got := runRead(t, km, []step{must(t)(km.matmul(xb, wt, out, M, false))}, out, M*N)
				checkClose(t, what, got, want, relTol)
				if first == nil {
					first = got
				} else {
					checkClose(t, what+" against the register kernel", got, first, relTol)
				}
				// Accumulate: out = prev + x W^T, the fused residual add.
				k.dev.WriteBuffer(out, 0, f32Bytes(prev))
				got = runRead(t, km, []step{must(t)(km.matmul(xb, wt, out, M, true))}, out, M*N)
				checkClose(t, what+" accumulate", got, wantAcc, relTol)
			}
		}
	}
}

// TestMatmulQuantWeights reads both kernels' dequantised weights bit for bit, scales of
// every kind included.
func TestMatmulQuantWeights(t *testing.T) {
	k := testKernels(t)
	r := rand.New(rand.NewPCG(5, 6))
	const K, N = 96, 70
	for _, dt := range []checkpoint.DType{Q8_0, Q4_0} {
		b, _ := quantized(dt, randVec(r, N*K, 1))
		withSpecialScales(dt, b)
		deq := dequant(dt, b, N*K)
		wt := weight{buf: k.upload("w", b), dt: dt, rows: N, cols: K}

		// x = I makes out = W^T exactly (products with 1 and sums with 0 are exact), so
		// this reads the shader's dequantised weights bit for bit.
		eye := make([]float32, K*K)
		for i := 0; i < K; i++ {
			eye[i*K+i] = 1
		}
		wT := make([]float32, K*N)
		for n := 0; n < N; n++ {
			for kk := 0; kk < K; kk++ {
				wT[kk*N+n] = deq[n*K+kk]
			}
		}
		for _, km := range bothMatmuls(k) {
			out := k.storage("out", K*N)
			got := runRead(t, km, []step{must(t)(km.matmul(km.upload("eye", f32Bytes(eye)), wt, out, K, false))}, out, K*N)
			// Compared as values: the sum 0 + -0 is +0, so a -0 weight (q = 0 under a
			// negative scale) comes out as +0 whatever the shader dequantised.
			checkEqual(t, "matmul "+km.mm.String()+" "+dt.String()+" dequantised weights", got, wT)
		}
	}
}

func TestRMSNorm(t *testing.T) {
	k := testKernels(t)
	r := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][2]int{{5, 300}, {3, 64}, {70, 1000}} {
		M, D := sz[0], sz[1]
		x, w := randVec(r, M*D, 2), randVec(r, D, 1)
		want := make([]float32, M*D)
		nn.RMSNorm(want, nil, x, w, M, D, 1e-5)
		out := k.storage("out", M*D)
		s := must(t)(k.rmsnorm(k.upload("x", f32Bytes(x)), k.upload("w", f32Bytes(w)), out, M, D, 1e-5))
		checkClose(t, "rmsnorm", runRead(t, k, []step{s}, out, M*D), want, relTol)
	}
}

func TestRoPE(t *testing.T) {
	k := testKernels(t)
	r := rand.New(rand.NewPCG(9, 10))
	const seqLen, H, hd = 200, 3, 8
	rt := nn.NewRopeTable(seqLen, hd, 10000)
	cs := make([]float32, 2*len(rt.Cos))
	for i := range rt.Cos {
		cs[2*i], cs[2*i+1] = rt.Cos[i], rt.Sin[i]
	}
	csb := k.upload("cs", f32Bytes(cs))
	// Several sequences: positions restart at 0 in each.
	for _, c := range []struct{ B, L int }{{1, 190}, {3, 7}} {
		n := c.B * c.L * H * hd
		q, kv := randVec(r, n, 1), randVec(r, n, 1)
		qb, kb := k.upload("q", f32Bytes(q)), k.upload("k", f32Bytes(kv))
		s := must(t)(k.rope(csb, qb, kb, c.B, c.L, H, hd))
		gotQ := runRead(t, k, []step{s}, qb, len(q))
		gotK := runRead(t, k, nil, kb, len(kv))
		nn.RoPE(q, H*hd, rt, c.B, c.L, H)
		nn.RoPE(kv, H*hd, rt, c.B, c.L, H)
		checkClose(t, "rope q", gotQ, q, relTol)
		checkClose(t, "rope k", gotK, kv, relTol)
	}
}

func TestAttention(t *testing.T) {
	k := testKernels(t)
	r := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct {
		B, L, H, hd int
		causal      bool
	}{{1, 19, 3, 8, false}, {1, 19, 3, 8, true}, {1, 70, 2, 72, false}, {1, 300, 2, 72, true}, {1, 1, 1, 4, false},
		{3, 19, 3, 8, false}, {4, 9, 2, 8, true}} {
		D, M := c.H*c.hd, c.B*c.L
		q, kk, v := randVec(r, M*D, 1), randVec(r, M*D, 1), randVec(r, M*D, 1)
		want := make([]float32, M*D)
		nn.Attention(want, make([]float32, c.B*c.H*c.L*c.L), q, kk, v, D, c.B, c.L, c.H, c.hd, c.causal)
		out := k.storage("out", M*D)
		steps, err := k.attention(k.upload("q", f32Bytes(q)), k.upload("k", f32Bytes(kk)), k.upload("v", f32Bytes(v)),
			k.storage("scores", c.B*c.H*c.L*c.L), out, c.B, c.L, c.H, c.hd, c.causal)
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, fmt.Sprintf("attention B=%d L=%d causal=%v", c.B, c.L, c.causal), runRead(t, k, steps, out, M*D), want, relTol)
	}
}

func TestSwiGLU(t *testing.T) {
	k := testKernels(t)
	r := rand.New(rand.NewPCG(13, 14))
	const n = 1000
	g, u := randVec(r, n, 3), randVec(r, n, 1)
	want := make([]float32, n)
	nn.SwiGLU(want, append(append([]float32(nil), g...), u...), 1, n) // one row: gate, then up
	gb := k.upload("gate", f32Bytes(g))
	s := must(t)(k.swiglu(gb, k.upload("up", f32Bytes(u)), n))
	checkClose(t, "swiglu", runRead(t, k, []step{s}, gb, n), want, relTol)
}

// refCandidates is the reference for argmax_conf: per row, the first largest logit other
// than exclude, its softmax probability and the entropy, both over all ids but exclude,
// in float64.
func refCandidates(logits []float32, L, V, exclude int) (tok []int32, conf, ent []float64) {
	for i := 0; i < L; i++ {
		row := logits[i*V : i*V+V]
		best := -1
		for j, x := range row {
			if j != exclude && (best < 0 || x > row[best]) {
				best = j
			}
		}
		m := float64(row[best])
		var s, st float64
		for j, x := range row {
			if j != exclude {
				z := float64(x) - m
				s += math.Exp(z)
				st += math.Exp(z) * z
			}
		}
		tok = append(tok, int32(best))
		conf = append(conf, 1/s)
		ent = append(ent, math.Log(s)-st/s)
	}
	return tok, conf, ent
}

func TestShiftRows(t *testing.T) {
	k := testKernels(t)
	r := rand.New(rand.NewPCG(15, 16))
	for _, c := range []struct{ B, L int }{{1, 1}, {1, 2}, {1, 37}, {3, 5}} {
		const D = 48
		n := c.B * c.L * D
		src := randVec(r, n, 1)
		want := make([]float32, n)
		model.ShiftRows(want, src, c.B, c.L, D)
		out := k.storage("shifted", n)
		s := must(t)(k.shiftRows(k.upload("src", f32Bytes(src)), out, c.B, c.L, D))
		got := runRead(t, k, []step{s}, out, n)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("B=%d L=%d: value %d (row %d) = %g, want %g (a copy is exact)", c.B, c.L, i, i/D, got[i], want[i])
			}
		}
	}
}

func TestArgmaxConf(t *testing.T) {
	k := testKernels(t)
	r := rand.New(rand.NewPCG(15, 16))
	const L, V = 6, 700
	logits := randVec(r, L*V, 2)
	logits[0*V+V-1] = 50                     // MASK largest: must be skipped
	logits[1*V+10], logits[1*V+500] = 30, 30 // a tie: the smaller id wins
	logits[2*V+699] = 40                     // last id, excluded below... it is MASK (V-1)
	for j := 0; j < V; j++ {                 // a flat row: probability 1/(V-1)
		logits[3*V+j] = 1
	}
	logits[4*V+5] = 20 // one dominant token: probability near 1, entropy near 0
	out := k.storage("cand", 4*L)
	s := must(t)(k.argmaxConf(k.upload("logits", f32Bytes(logits)), out, L, V, V-1))
	got := runRead(t, k, []step{s}, out, 4*L)
	tok, conf, ent := refCandidates(logits, L, V, V-1)
	for i := 0; i < L; i++ {
		gt := int32(math.Float32bits(got[4*i]))
		if gt != tok[i] {
			t.Errorf("row %d: token %d, want %d", i, gt, tok[i])
		}
		if e := math.Abs(float64(got[4*i+1]) - conf[i]); e > relTol*conf[i] {
			t.Errorf("row %d: prob %g, want %g", i, got[4*i+1], conf[i])
		}
		if e := math.Abs(float64(got[4*i+2]) - ent[i]); e > 1e-4*math.Max(1, ent[i]) {
			t.Errorf("row %d: entropy %g, want %g", i, got[4*i+2], ent[i])
		}
	}
	if tok[1] != 10 {
		t.Errorf("reference broke the tie toward %d", tok[1])
	}
}
