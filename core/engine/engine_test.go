package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/infill"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

const corpus = "It is a truth universally acknowledged, that a single man in possession of a good " +
	"fortune, must be in want of a wife. However little known the feelings or views of such a man " +
	"may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the " +
	"surrounding families, that he is considered the rightful property of some one or other of their daughters. "

// release returns the bytes of a small random model's release file with its tokenizer.
func release(t testing.TB) []byte {
	t.Helper()
	tok, err := tokenizer.Train([][]byte{[]byte(corpus)}, 300)
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{Vocab: tok.Vocab(), Dim: 32, Layers: 1, Heads: 2, Hidden: 64, SeqLen: 48, RopeTheta: 10000, NormEps: 1e-5}
	m, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := checkpoint.Encode(&buf, m.ToFile(tok.Marshal())); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func load(t testing.TB, open OpenGPU) *Engine {
	t.Helper()
	e, err := Load(release(t), open, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLoadCPU(t *testing.T) {
	var phases []string
	data := release(t)
	e, err := Load(data, nil, func(p string) { phases = append(phases, p) })
	if err != nil {
		t.Fatal(err)
	}
	info := e.Info()
	if info.GPU || !strings.HasPrefix(info.Backend, "CPU (") || info.SelfTestDiff != -1 || info.Fallback == "" {
		t.Errorf("info = %+v, want the CPU with a reason and no self-test", info)
	}
	if info.Bytes != len(data) || info.DType != "f32" || info.Params != info.Config.NumParams() {
		t.Errorf("info = %+v, want %d bytes of f32", info, len(data))
	}
	if strings.Join(phases, ",") != "verifying and decoding,reading the tokenizer,building the CPU model" {
		t.Errorf("phases = %v", phases)
	}
}

func TestLoadRejectsDamage(t *testing.T) {
	data := release(t)
	if _, err := Load(data[:len(data)-10], nil, nil); !errors.Is(err, checkpoint.ErrTruncated) {
		t.Errorf("truncated: err = %v, want ErrTruncated", err)
	}
	bad := bytes.Clone(data)
	bad[len(bad)-5] ^= 0x40
	if _, err := Load(bad, nil, nil); !errors.Is(err, checkpoint.ErrHash) {
		t.Errorf("flipped payload bit: err = %v, want ErrHash", err)
	}
	if _, err := Load([]byte("<html>not found</html>"), nil, nil); err == nil {
		t.Error("an HTML page loaded as weights")
	}
}

// fakeGPU is the CPU model seen through the GPU interface, with an optional logit offset
// and delay. It answers the self-test's input from a cache, so that it is faster than
// the CPU unless delayed. Like the GPU it has Logits and Vocab only (no RowLogits).
type fakeGPU struct {
	m        *model.Model
	offset   float32
	delay    time.Duration
	closed   bool
	self     []float32 // logits of SelfTestIDs
	failFrom int       // calls past the self-test from which the device is lost; 0: never
	calls    int
	batches  int // BatchLogits calls, and the sequences they evaluated
	rows     int
}

func newFakeGPU(m *model.Model, offset float32, delay time.Duration) *fakeGPU {
	l, _ := m.Logits(SelfTestIDs(m.Cfg))
	return &fakeGPU{m: m, offset: offset, delay: delay, self: l}
}

func (g *fakeGPU) Name() string { return "Fake GPU" }
func (g *fakeGPU) Vocab() int   { return g.m.Vocab() }
func (g *fakeGPU) Close()       { g.closed = true }
func (g *fakeGPU) Logits(ids []int32) ([]float32, error) {
	time.Sleep(g.delay)
	if g.closed {
		return nil, errors.New("fake GPU used after Close")
	}
	if !slices.Equal(ids, SelfTestIDs(g.m.Cfg)) {
		if g.calls++; g.failFrom > 0 && g.calls >= g.failFrom {
			return nil, errors.New("webgpu: mapAsync: device lost")
		}
	}
	var l []float32
	var err error
	if slices.Equal(ids, SelfTestIDs(g.m.Cfg)) {
		l = slices.Clone(g.self)
	} else {
		l, err = g.m.Logits(ids)
	}
	for i := range l {
		l[i] += g.offset
	}
	return l, err
}

// BatchLogits is the CPU model's, one call per batch, failing like Logits.
func (g *fakeGPU) BatchLogits(ids []int32, B int) ([]float32, error) {
	if g.closed {
		return nil, errors.New("fake GPU used after Close")
	}
	if g.calls++; g.failFrom > 0 && g.calls >= g.failFrom {
		return nil, errors.New("webgpu: mapAsync: device lost")
	}
	g.batches++
	g.rows += B
	l, err := g.m.BatchLogits(ids, B)
	for i := range l {
		l[i] += g.offset
	}
	return l, err
}

// choosingGPU is a fakeGPU that chose a matmul kernel at load.
type choosingGPU struct{ *fakeGPU }

func (choosingGPU) MatmulKernels() (string, int, map[string]float64) {
	return "tiled", 20, map[string]float64{"registers": 0.03, "tiled": 0.01}
}

// TestMatmulKernelInfo: a GPU's kernel choice and its timings reach Info; a GPU
// without a choice leaves them empty.
func TestMatmulKernelInfo(t *testing.T) {
	for _, choosing := range []bool{true, false} {
		e := load(t, func(f *checkpoint.File, cfg model.Config) (GPU, error) {
			m, err := model.FromFile(f)
			if choosing {
				return choosingGPU{newFakeGPU(m, 0, 0)}, err
			}
			return newFakeGPU(m, 0, 0), err
		})
		info := e.Info()
		if choosing && (info.MatmulKernel != "tiled" || info.MatmulPositions != 20 || info.MatmulSeconds["registers"] != 0.03 || info.MatmulSeconds["tiled"] != 0.01) {
			t.Errorf("info = %+v, want the tiled kernel and both timings", info)
		}
		if !choosing && (info.MatmulKernel != "" || info.MatmulSeconds != nil || info.MatmulPositions != 0) {
			t.Errorf("info = %+v, want no kernel choice", info)
		}
	}
}

func TestBackendChoice(t *testing.T) {
	for _, tc := range []struct {
		name     string
		offset   float32
		delay    time.Duration
		openErr  error
		wantGPU  bool // the default
		keptGPU  bool // available on request
		fallback string
	}{
		{"agrees", 0, 0, nil, true, true, ""},
		{"within tolerance", SelfTestTol / 2, 0, nil, true, true, ""},
		{"disagrees", 10 * SelfTestTol, 0, nil, false, false, "exceeds"},
		{"slower than the CPU", 0, 300 * time.Millisecond, nil, false, true, "took"},
		{"no adapter", 0, 0, errors.New("no WebGPU adapter"), false, false, "no WebGPU adapter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g *fakeGPU
			open := func(f *checkpoint.File, cfg model.Config) (GPU, error) {
				if tc.openErr != nil {
					return nil, tc.openErr
				}
				m, err := model.FromFile(f)
				g = newFakeGPU(m, tc.offset, tc.delay)
				return g, err
			}
			e := load(t, open)
			info := e.Info()
			if info.GPU != tc.wantGPU {
				t.Fatalf("info = %+v, want GPU %v", info, tc.wantGPU)
			}
			if tc.wantGPU && (info.Backend != "Fake GPU" || info.Fallback != "") {
				t.Errorf("info = %+v, want the fake GPU", info)
			}
			if !tc.wantGPU && (!strings.Contains(info.Fallback, tc.fallback) || !strings.HasPrefix(info.Backend, "CPU")) {
				t.Errorf("info = %+v, want the CPU with a reason containing %q", info, tc.fallback)
			}
			if g != nil && g.closed == tc.keptGPU {
				t.Errorf("GPU closed = %v, want %v", g.closed, !tc.keptGPU)
			}
			if (info.GPUName == "Fake GPU") != tc.keptGPU {
				t.Errorf("GPUName %q, want the GPU kept: %v", info.GPUName, tc.keptGPU)
			}
			// Requests pick either backend; the default is info.Backend.
			for backend, want := range map[string]string{"": info.Backend, "cpu": info.CPUName, "gpu": "Fake GPU"} {
				out, err := e.Sample(context.Background(), Request{Length: 4, Steps: 2, Backend: backend}, nil)
				switch {
				case backend == "gpu" && !tc.keptGPU:
					if err == nil {
						t.Errorf("backend gpu ran without a GPU")
					}
				case err != nil || out.Backend != want:
					t.Errorf("backend %q: ran on %q (%v), want %q", backend, out.Backend, err, want)
				}
			}
			if tc.openErr == nil && (info.SelfTestDiff < float64(tc.offset)*0.99 || info.SelfTestDiff > float64(tc.offset)*1.01+1e-6) {
				t.Errorf("self-test diff %g, want about %g", info.SelfTestDiff, tc.offset)
			}
		})
	}
}

func TestSampleContinue(t *testing.T) {
	e := load(t, nil)
	var steps []Step
	out, err := e.Sample(context.Background(), Request{Prompt: "It is a truth", Length: 16, Steps: 4, Temperature: 1, Seed: 3},
		func(s Step) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	if out.Tokens != 16 || out.Steps != len(steps) || out.NFE < 1 || out.NFE > 4 {
		t.Errorf("out = %+v with %d step callbacks", out, len(steps))
	}
	if !strings.HasPrefix(out.Text, "It is a truth") {
		t.Errorf("text %q lost the prompt", out.Text)
	}
	prev := 16
	for i, s := range steps {
		n := len(s.Texts)
		if len(s.States) != n || n != len(e.Tokenizer().Encode([]byte("It is a truth")))+16 {
			t.Fatalf("step %d: %d texts, %d states", i, n, len(s.States))
		}
		masked, committed := 0, 0
		for _, st := range s.States {
			switch st {
			case Masked:
				masked++
			case Committed:
				committed++
			}
		}
		if masked != s.Masked || committed == 0 || prev-committed != masked && !hasEnd(s) {
			t.Errorf("step %d: %d masked (says %d), %d committed, %d masked before", i, masked, s.Masked, committed, prev)
		}
		prev = masked
	}
	if prev != 0 {
		t.Errorf("%d positions still masked after the last step", prev)
	}
	for i, st := range out.States {
		if st == Masked || st == Committed || st == End {
			t.Errorf("final piece %d has state %d", i, st)
		}
	}
	if strings.Join(out.Texts, "") != out.Text {
		t.Errorf("pieces %q do not spell %q", out.Texts, out.Text)
	}
}

func hasEnd(s Step) bool {
	for _, st := range s.States {
		if st == End {
			return true
		}
	}
	return false
}

func TestSampleInfill(t *testing.T) {
	e := load(t, nil)
	out, err := e.Sample(context.Background(), Request{Mode: "infill", Prompt: "a truth ___ acknowledged, that ____ man", Length: 3, Steps: 6, Strategy: "random", Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Tokens != 6 {
		t.Errorf("filled %d tokens, want 6", out.Tokens)
	}
	if !strings.HasPrefix(out.Text, "a truth") || strings.Contains(out.Text, "___") || !strings.Contains(out.Text, " acknowledged, that") {
		t.Errorf("text %q", out.Text)
	}
	if _, err := e.Sample(context.Background(), Request{Mode: "infill", Prompt: "no blanks", Length: 3}, nil); err == nil || !strings.Contains(err.Error(), "___") {
		t.Errorf("no blanks: err = %v", err)
	}
	if _, err := e.Sample(context.Background(), Request{Mode: "infill", Prompt: "___ and ___", Length: 40}, nil); err == nil {
		t.Error("blanks longer than the window accepted")
	}
}

// TestInfillSyntax checks that the page's infill text is read by core/infill, as the
// command's is: both spellings, one space before a blank left to the fill, its errors.
func TestInfillSyntax(t *testing.T) {
	e := load(t, nil)
	for _, text := range []string{"a truth ___ acknowledged", "a truth  [MASK] acknowledged,___", "[MASK]___ that"} {
		ids, _, err := e.Input(Request{Mode: "infill", Prompt: text, Length: 2})
		want, _, werr := infill.Encode(e.tok, text, 2, e.cfg.SeqLen)
		if err != nil || werr != nil || fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("%q: ids %v (%v), want core/infill's %v (%v)", text, ids, err, want, werr)
		}
	}
	mask := e.cfg.MaskID()
	ids, _, err := e.Input(Request{Mode: "infill", Prompt: "a truth  ___ acknowledged", Length: 2})
	want := append(append(e.tok.Encode([]byte("a truth ")), mask, mask), e.tok.Encode([]byte(" acknowledged"))...)
	if err != nil || fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("ids %v (%v), want %v (one space before a blank goes to the model's first word, not two)", ids, err, want)
	}
	if _, _, err := e.Input(Request{Mode: "infill", Prompt: "a [mask] b", Length: 2}); err == nil || !strings.Contains(err.Error(), "[mask]") {
		t.Errorf("a mis-cased [MASK]: %v", err)
	}
}

func TestSampleTrimsPrompt(t *testing.T) {
	e := load(t, nil)
	ids, trimmed, err := e.Input(Request{Prompt: corpus, Length: 40})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 48 || trimmed != len(e.Tokenizer().Encode([]byte(corpus)))-8 {
		t.Errorf("%d ids, %d trimmed", len(ids), trimmed)
	}
	if _, _, err := e.Input(Request{Length: 49}); err == nil {
		t.Error("a length beyond the window accepted")
	}
	if _, _, err := e.Input(Request{Mode: "poem", Length: 4}); err == nil {
		t.Error("an unknown mode accepted")
	}
}

func TestSampleCancel(t *testing.T) {
	e := load(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := e.Sample(ctx, Request{Length: 16, Steps: 8}, func(Step) { calls++; cancel() })
	if !errors.Is(err, ErrCanceled) || calls != 1 {
		t.Errorf("err = %v after %d steps, want ErrCanceled after 1", err, calls)
	}
}

func TestPiecesKeepCharactersWhole(t *testing.T) {
	e := load(t, nil)
	mask := e.cfg.MaskID()
	é := e.tok.Encode([]byte("é"))
	if len(é) != 2 {
		t.Skipf("é is %d tokens in this vocabulary", len(é))
	}
	a := e.tok.Encode([]byte("a"))[0]
	ids := []int32{a, é[0], é[1], mask, é[0], mask, e.cfg.EOTID()}
	given := []bool{true, false, false, false, false, false, false}
	p := e.Pieces(ids, given, []int{2})
	wantTexts := []string{"a", "", "é", "", "\uFFFD", "", ""}
	wantStates := []int8{Given, Written, Committed, Masked, Written, Masked, End}
	for i := range ids {
		if p.Texts[i] != wantTexts[i] || p.States[i] != wantStates[i] {
			t.Errorf("piece %d = (%q, %d), want (%q, %d)", i, p.Texts[i], p.States[i], wantTexts[i], wantStates[i])
		}
	}
}

func TestStepJSON(t *testing.T) {
	// The page reads states as numbers: a []uint8 would be sent as a base64 string.
	b, err := json.Marshal(Step{Pieces: Pieces{Texts: []string{"a", ""}, States: []int8{Given, Masked}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"texts":["a",""],"states":[0,1]`) {
		t.Errorf("step JSON %s", b)
	}
}

// TestSampleLong writes past the window (48 positions here): the text grows chunk by
// chunk, the steps per token stay those asked, and every step's pieces hold the text so far.
func TestSampleLong(t *testing.T) {
	e := load(t, nil)
	const n, steps = 130, 26 // 6 chunks of half the window (24 tokens) and one of 10
	var got []Step
	out, err := e.Sample(context.Background(), Request{Prompt: "It is a truth", Length: n, Steps: steps, Temperature: 1, Seed: 2},
		func(s Step) { got = append(got, s) })
	if err != nil {
		t.Fatal(err)
	}
	prompt := len(e.Tokenizer().Encode([]byte("It is a truth")))
	chunk := e.cfg.SeqLen / 2
	if out.Tokens != n || len(out.IDs) != prompt+n || out.Chunks != (n+chunk-1)/chunk || out.Trimmed != 0 {
		t.Fatalf("%d tokens, %d ids, %d chunks, %d trimmed; want %d tokens after %d prompt tokens in %d chunks",
			out.Tokens, len(out.IDs), out.Chunks, out.Trimmed, n, prompt, (n+chunk-1)/chunk)
	}
	// sample.Long shares the steps out per chunk, rounding each share.
	if out.Steps < steps-out.Chunks || out.Steps > steps+out.Chunks || out.Steps != len(got) || out.NFE > out.Steps {
		t.Errorf("%d steps (%d callbacks), %d calls; want about %d steps", out.Steps, len(got), out.NFE, steps)
	}
	grew := 0
	for i, s := range got {
		if i > 0 && len(s.Texts) > len(got[i-1].Texts) {
			grew++
		}
		if len(s.Texts) > prompt+n || s.Masked < 0 || s.Step != i+1 {
			t.Fatalf("step %d: %d pieces, %d masked, step %d", i, len(s.Texts), s.Masked, s.Step)
		}
	}
	if grew != out.Chunks-1 || got[len(got)-1].Masked != 0 {
		t.Errorf("the text grew %d times over %d chunks; %d masked at the end", grew, out.Chunks, got[len(got)-1].Masked)
	}
	if len(out.Texts) != prompt+n || strings.Join(out.Texts, "") != out.Text || !strings.HasPrefix(out.Text, "It is a truth") {
		t.Errorf("output %q in %d pieces", out.Text, len(out.Texts))
	}

	// Stopping at the end of text: the text ends before the first EOT written.
	stop, err := e.Sample(context.Background(), Request{Length: n, Steps: steps, Temperature: 1, Seed: 2, StopAtEOT: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(stop.IDs, e.cfg.EOTID()) || stop.Tokens > n || stop.Tokens != len(stop.IDs) {
		t.Errorf("StopAtEOT: %d tokens %v", stop.Tokens, stop.IDs)
	}
}

// TestSampleSpeculative: at temperature 0 the frozen draft gives the plain sampler's
// tokens, with steps and target calls reported and the pieces marking drafted tokens.
func TestSampleSpeculative(t *testing.T) {
	e := load(t, nil)
	for _, strategy := range []string{"random", "low-confidence"} {
		req := Request{Prompt: "It is a truth", Length: 24, Steps: 12, Strategy: strategy, Seed: 5}
		plain, err := e.Sample(context.Background(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Draft = sample.DraftFrozen
		var steps []Step
		spec, err := e.Sample(context.Background(), req, func(s Step) { steps = append(steps, s) })
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(spec.IDs, plain.IDs) {
			t.Errorf("%s: speculative %v, plain %v", strategy, spec.IDs, plain.IDs)
		}
		if spec.Steps != plain.Steps || spec.NFE < 1 || spec.NFE >= spec.Steps || spec.TargetRows < spec.NFE ||
			spec.Accepted == 0 || len(steps) != spec.Steps || steps[len(steps)-1].Rows != spec.TargetRows {
			t.Errorf("%s: %d steps (plain %d), %d target calls of %d rows, %d accepted, %d callbacks",
				strategy, spec.Steps, plain.Steps, spec.NFE, spec.TargetRows, spec.Accepted, len(steps))
		}
		marked := 0
		for _, st := range spec.States {
			if st == Accepted || st == Corrected {
				marked++
			}
		}
		if marked != spec.Accepted+spec.Corrected {
			t.Errorf("%s: %d pieces marked, %d accepted + %d corrected", strategy, marked, spec.Accepted, spec.Corrected)
		}
	}
}

// TestSampleRefuses: what the engine cannot do is refused with a reason, before any work.
func TestSampleRefuses(t *testing.T) {
	e := load(t, nil)
	for _, tc := range []struct {
		r    Request
		want string
	}{
		{Request{Length: MaxLength + 1}, "at most"},
		{Request{Length: 100, Draft: sample.DraftFrozen}, "window"},
		{Request{Length: 8, Draft: "oracle"}, "draft"},
		{Request{Length: 8, Draft: sample.DraftFrozen, K: -1}, "K"},
		{Request{Mode: "infill", Prompt: "___ and ___", Length: 40}, "positions"},
	} {
		calls := 0
		_, err := e.Sample(context.Background(), tc.r, func(Step) { calls++ })
		if err == nil || !strings.Contains(err.Error(), tc.want) || calls != 0 {
			t.Errorf("%+v: err %v after %d steps, want one saying %q", tc.r, err, calls, tc.want)
		}
	}
}

// loadFakeGPU loads the release with a fakeGPU that is lost from call failFrom on (0:
// never).
func loadFakeGPU(t *testing.T, failFrom int) (*Engine, *fakeGPU) {
	var g *fakeGPU
	e := load(t, func(f *checkpoint.File, cfg model.Config) (GPU, error) {
		m, err := model.FromFile(f)
		if err != nil {
			return nil, err
		}
		g = newFakeGPU(m, 0, 0)
		g.failFrom = failFrom
		return g, nil
	})
	return e, g
}

// TestGPULostMidSample loses the GPU at the third network call of a sample: the sample
// goes on on the CPU from where it was and writes what the CPU alone writes (the fake GPU
// is the CPU model), says so, and later samples run on the CPU.
func TestGPULostMidSample(t *testing.T) {
	e, g := loadFakeGPU(t, 3)
	if !e.Info().GPU {
		t.Fatalf("info = %+v, want the fake GPU as the default", e.Info())
	}
	r := Request{Prompt: "It is a truth", Length: 16, Steps: 8, Temperature: 1, Seed: 5, Backend: "gpu"}
	var steps []Step
	out, err := e.Sample(context.Background(), r, func(s Step) { steps = append(steps, s) })
	if err != nil {
		t.Fatalf("sample with the GPU lost midway: %v", err)
	}
	if !g.closed || out.Backend != e.Info().CPUName || !strings.Contains(out.Fallback, "after 2 network calls") || !strings.Contains(out.Fallback, "device lost") {
		t.Errorf("GPU closed %v, backend %q, fallback %q: want the CPU after 2 calls, with the reason", g.closed, out.Backend, out.Fallback)
	}
	if len(steps) < 3 || steps[1].Fallback != "" || steps[len(steps)-1].Fallback == "" {
		t.Errorf("%d steps: the steps should say so from the loss on", len(steps))
	}
	r.Backend = "cpu"
	want, err := e.Sample(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Text != want.Text || out.Tokens != want.Tokens || out.NFE != want.NFE {
		t.Errorf("after the loss: %q (%d NFE), want the CPU's %q (%d NFE)", out.Text, out.NFE, want.Text, want.NFE)
	}
	if info := e.Info(); info.GPU || info.GPUName != "" || !strings.Contains(info.Fallback, "device lost") {
		t.Errorf("info after the loss = %+v, want the CPU with the reason", info)
	}
	if _, err := e.Sample(context.Background(), Request{Prompt: "a", Length: 4, Steps: 2, Backend: "gpu"}, nil); err == nil {
		t.Error("a sample asked the lost GPU and ran")
	}
	if o, err := e.Sample(context.Background(), Request{Prompt: "a", Length: 4, Steps: 2}, nil); err != nil || o.Backend != e.Info().CPUName {
		t.Errorf("default backend after the loss: %q (%v), want the CPU", o.Backend, err)
	}
}

// TestSpeculativeOnGPU: a speculative sample on a GPU that evaluates batches makes one
// call a batch (the calls and rows it reports are the GPU's), and a GPU lost in a batch
// leaves the rest of the sample to the CPU, which writes what it alone writes.
func TestSpeculativeOnGPU(t *testing.T) {
	e, g := loadFakeGPU(t, 0)
	r := Request{Prompt: "It is a truth", Length: 24, Steps: 12, Temperature: 1, Seed: 5, Draft: sample.DraftFrozen, K: 3, Backend: "cpu"}
	want, err := e.Sample(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Backend = "gpu"
	g.calls = 0
	out, err := e.Sample(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Backend != "Fake GPU" || out.Text != want.Text || out.NFE != want.NFE || out.TargetRows != want.TargetRows {
		t.Errorf("on the GPU: %q on %q, %d target calls of %d rows; want the CPU's %q, %d calls of %d rows",
			out.Text, out.Backend, out.NFE, out.TargetRows, want.Text, want.NFE, want.TargetRows)
	}
	if g.batches == 0 || g.calls != out.NFE || g.rows+(g.calls-g.batches) != out.TargetRows {
		t.Errorf("the GPU saw %d calls, %d of them batches of %d rows in all; the sample reports %d target calls of %d rows",
			g.calls, g.batches, g.rows, out.NFE, out.TargetRows)
	}
	// Lost at the GPU's second call, a batch: the sample ends on the CPU.
	g.calls, g.failFrom = 0, 2
	out, err = e.Sample(context.Background(), r, nil)
	if err != nil {
		t.Fatalf("speculative sample with the GPU lost midway: %v", err)
	}
	if !g.closed || out.Backend != e.Info().CPUName || !strings.Contains(out.Fallback, "after 1 network calls") ||
		out.Text != want.Text || out.NFE != want.NFE {
		t.Errorf("GPU closed %v, backend %q, fallback %q, text %q (%d calls): want the CPU's %q (%d calls) after 1 call",
			g.closed, out.Backend, out.Fallback, out.Text, out.NFE, want.Text, want.NFE)
	}
}

// TestStartGPUInBackground: while the GPU starts, the engine samples on the CPU by default,
// a request for the GPU waits for the outcome (or its cancel), and the GPU becomes the
// default once it passes the self-test.
func TestStartGPUInBackground(t *testing.T) {
	var phases []string
	e, err := LoadCPU(release(t), true, func(p string) { phases = append(phases, p) })
	if err != nil {
		t.Fatal(err)
	}
	if phases[0] != "decoding" {
		t.Errorf("phases of a checked file = %v, want decoding without verifying", phases)
	}
	opening := make(chan struct{})
	var g *fakeGPU
	done := e.StartGPU(func(f *checkpoint.File, cfg model.Config) (GPU, error) {
		<-opening // the upload takes its time
		m, err := model.FromFile(f)
		g = newFakeGPU(m, 0, 0)
		return g, err
	}, nil)
	if info := e.Info(); !info.GPUPending || info.GPU || info.Backend != info.CPUName {
		t.Errorf("info while the GPU starts = %+v, want the CPU as the default, the GPU pending", info)
	}
	r := Request{Prompt: "It is a truth", Length: 8, Steps: 4, Seed: 1}
	if out, err := e.Sample(context.Background(), r, nil); err != nil || out.Backend != e.Info().CPUName {
		t.Errorf("default sample while the GPU starts: ran on %q (%v), want the CPU", out.Backend, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Backend = "gpu"
	if _, err := e.Sample(ctx, r, nil); !errors.Is(err, ErrCanceled) {
		t.Errorf("canceled request for the GPU while it starts: %v, want ErrCanceled", err)
	}
	got := make(chan Output, 1)
	go func() {
		out, err := e.Sample(context.Background(), r, nil)
		if err != nil {
			t.Error(err)
		}
		got <- out
	}()
	select {
	case out := <-got:
		t.Fatalf("a request for the GPU ran on %q before the GPU had started", out.Backend)
	case <-time.After(50 * time.Millisecond):
	}
	close(opening)
	<-done
	if out := <-got; out.Backend != "Fake GPU" {
		t.Errorf("request for the GPU ran on %q, want the fake GPU", out.Backend)
	}
	if info := e.Info(); info.GPUPending || !info.GPU || info.Backend != "Fake GPU" || info.Fallback != "" || info.SelfTestDiff != 0 {
		t.Errorf("info after the start = %+v, want the fake GPU as the default", info)
	}
}
