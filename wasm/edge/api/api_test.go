package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// tinyAssets is a manifest with two small random models on the release tokenizer: a
// masked one (the default) and a causal one.
func tinyAssets(t testing.TB) map[string][]byte {
	t.Helper()
	tj, err := os.ReadFile("../../../weights/tokenizer.json")
	if err != nil { // in a browser (build/wasmtest.sh) there are no files; node and native have them
		t.Skipf("no release tokenizer: %v", err)
	}
	tok, err := tokenizer.Parse(tj)
	if err != nil {
		t.Fatal(err)
	}
	assets := map[string][]byte{}
	man := Manifest{Built: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), Default: "tiny-mdm"}
	for _, causal := range []bool{false, true} {
		cfg := model.Config{Vocab: tok.Vocab(), Dim: 32, Layers: 1, Heads: 2, Hidden: 64, SeqLen: 48, Causal: causal, RopeTheta: 10000, NormEps: 1e-5}
		m, err := model.New(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := checkpoint.Encode(&buf, m.ToFile(tok.Marshal())); err != nil {
			t.Fatal(err)
		}
		name := map[bool]string{false: "tiny-mdm", true: "tiny-ar"}[causal]
		file := "/site/" + name + ".0123456789abcdef.ckpt"
		assets[file] = buf.Bytes()
		man.Models = append(man.Models, Model{Name: name, Paradigm: Paradigm(cfg), File: file, Bytes: int64(buf.Len()), DType: "f32", Params: cfg.NumParams(), Config: cfg})
	}
	b, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	assets[ManifestPath] = b
	return assets
}

func mapFetch(assets map[string][]byte) Fetch {
	return func(ctx context.Context, path string) ([]byte, error) {
		b, ok := assets[path]
		if !ok {
			return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
		}
		return b, nil
	}
}

func newServer(t testing.TB, b Budget) (*Server, *bytes.Buffer) {
	var logs bytes.Buffer
	return &Server{Fetch: mapFetch(tinyAssets(t)), Budget: b, Log: log.New(&logs, "", 0)}, &logs
}

func do(h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHealthAndModels(t *testing.T) {
	s, _ := newServer(t, Budget{})
	h := s.Handler()
	if w := do(h, "GET", "/healthz", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"ok":true`) {
		t.Errorf("healthz: %d %s", w.Code, w.Body)
	}
	w := do(h, "GET", "/api/models", "")
	var m Manifest
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 {
		t.Fatalf("models: %d %s (%v)", w.Code, w.Body, err)
	}
	if len(m.Models) != 2 || m.Models[0].Paradigm != "masked-diffusion" || m.Models[1].Paradigm != "autoregressive" || m.Models[0].Config.Dim != 32 {
		t.Errorf("models: %+v", m)
	}
	tag := w.Header().Get("ETag")
	if tag == "" || w.Header().Get("Last-Modified") == "" {
		t.Errorf("models: no validators in %v", w.Header())
	}
	if w := do(h, "GET", "/api/models", "", "If-None-Match", tag); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", w.Code)
	}
}

// TestSplitHeaders: the worker's request headers arrive split on commas. The date of an
// If-Modified-Since is two pieces there; without Quirks' rejoining the 304 is lost.
func TestSplitHeaders(t *testing.T) {
	s, _ := newServer(t, Budget{})
	h := s.Handler()
	date := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat) // after Built
	parts := strings.Split(date, ",")
	w := do(h, "GET", "/api/models", "", "If-Modified-Since", parts[0], "If-Modified-Since", parts[1])
	if w.Code != http.StatusNotModified {
		t.Errorf("If-Modified-Since %q split as the worker splits it: %d, want 304", parts, w.Code)
	}
	// Two ETags in one If-None-Match, split likewise, still match.
	tag := do(h, "GET", "/api/models", "").Header().Get("ETag")
	if w := do(h, "GET", "/api/models", "", "If-None-Match", `"x"`, "If-None-Match", " "+tag); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match split: %d (tag %s)", w.Code, tag)
	}
}

// TestNilBody: the worker hands a request without a body to Go with a nil Body.
func TestNilBody(t *testing.T) {
	s, _ := newServer(t, Budget{})
	h := s.Handler()
	r := httptest.NewRequest("POST", "/api/sample", nil)
	r.Body = nil
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 400 || !strings.Contains(w.Body.String(), "empty body") {
		t.Errorf("POST with a nil body: %d %s, want 400 empty body", w.Code, w.Body)
	}
}

func TestSample(t *testing.T) {
	s, logs := newServer(t, Budget{})
	h := s.Handler()
	body := `{"prompt":"It is a truth","length":12,"steps":6,"seed":7}`
	w := do(h, "POST", "/api/sample", body)
	var got SampleResponse
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("sample: %d %s (%v)", w.Code, w.Body, err)
	}
	if !strings.HasPrefix(got.Text, "It is a truth") || got.Tokens != 12 || got.Seed != 7 || got.Model != "tiny-mdm" || got.Strategy != DefaultStrategy || got.NFE < 1 || got.NFE > 6 {
		t.Errorf("sample: %+v", got)
	}
	again := do(h, "POST", "/api/sample", body)
	if again.Body.String() != w.Body.String() {
		t.Errorf("same seed, different answers:\n%s\n%s", w.Body, again.Body)
	}
	other := do(h, "POST", "/api/sample", strings.Replace(body, `"seed":7`, `"seed":8`, 1))
	if other.Body.String() == w.Body.String() {
		t.Error("seeds 7 and 8 gave the same sample")
	}
	// Streamed: one line per step that committed tokens, then the same result.
	sw := do(h, "POST", "/api/sample", strings.Replace(body, "{", `{"stream":true,`, 1))
	lines := strings.Split(strings.TrimSpace(sw.Body.String()), "\n")
	if sw.Header().Get("Content-Type") != "application/x-ndjson" || len(lines) != got.Steps+1 {
		t.Fatalf("stream: %s, %d lines for %d steps:\n%s", sw.Header().Get("Content-Type"), len(lines), got.Steps, sw.Body)
	}
	var first StepLine
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Step != 1 || first.Masked >= 12 {
		t.Errorf("first step line %s (%v)", lines[0], err)
	}
	var last SampleResponse
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || !last.Done || last.Text != got.Text {
		t.Errorf("last line %s (%v), want the result %q", lines[len(lines)-1], err, got.Text)
	}
	if logs.Len() != 0 {
		t.Errorf("logged: %s", logs)
	}
}

// TestSampleAutoregressive: the causal model writes left to right, one call per token,
// the tokens that core/sample.Autoregressive draws with the same settings.
func TestSampleAutoregressive(t *testing.T) {
	assets := tinyAssets(t)
	s := &Server{Fetch: mapFetch(assets)}
	w := do(s.Handler(), "POST", "/api/sample", `{"prompt":"It is a truth","model":"tiny-ar","length":10,"steps":3,"seed":4,"temperature":1,"topP":0}`)
	var got SampleResponse
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("%d %s (%v)", w.Code, w.Body, err)
	}
	f, err := checkpoint.Decode(assets["/site/tiny-ar.0123456789abcdef.ckpt"])
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Parse(f.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	prompt := tok.Encode([]byte("It is a truth"))
	want, err := sample.Autoregressive(m, prompt, 10, 0, sample.Options{Temperature: 1, Seed: 4, StopAtEOT: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.IDs, want.IDs) || got.NFE != want.NFE || got.Strategy != Autoregressive {
		t.Errorf("worker %v (%d calls, %s), core/sample %v (%d calls)", got.IDs, got.NFE, got.Strategy, want.IDs, want.NFE)
	}
}

func TestBadRequests(t *testing.T) {
	s, logs := newServer(t, Budget{})
	h := s.Handler()
	for _, tc := range []struct {
		method, path, body string
		code               int
		says               string
	}{
		{"POST", "/api/sample", `{"prompt":`, 400, "not a valid"},
		{"POST", "/api/sample", `{"prompt":"a","colour":"red"}`, 400, "unknown field"},
		{"POST", "/api/sample", `{"prompt":"a"} {}`, 400, "more than one"},
		{"POST", "/api/sample", `{"prompt":"a","length":0}`, 400, "length 0"},
		{"POST", "/api/sample", `{"prompt":"a","length":48}`, 400, "length 48"},
		{"POST", "/api/sample", `{"prompt":"a","steps":0}`, 400, "steps 0"},
		{"POST", "/api/sample", `{"prompt":"a","steps":100000}`, 400, "steps 100000"},
		{"POST", "/api/sample", `{"prompt":"a","temperature":-1}`, 400, "temperature"},
		{"POST", "/api/sample", `{"prompt":"a","temperature":"hot"}`, 400, "temperature"},
		{"POST", "/api/sample", `{"prompt":"a","strategy":"best"}`, 400, "strategy"},
		{"POST", "/api/sample", `{"prompt":"a","topP":1.5}`, 400, "topP"},
		{"POST", "/api/sample", `{"prompt":"a","model":"gpt-5"}`, 400, "not served"},
		{"POST", "/api/sample", `{"prompt":"a","seed":-1}`, 400, "seed"},
		{"POST", "/api/sample", `[1,2]`, 400, "not a valid"},
		{"POST", "/api/sample", `{"prompt":"` + strings.Repeat("a", MaxPrompt+1) + `"}`, 400, "prompt of"},
		{"POST", "/api/sample", `{"prompt":"` + strings.Repeat("a", MaxBody) + `"}`, 413, "over"},
		{"GET", "/api/sample", "", 405, "allowed: POST"},
		{"DELETE", "/api/models", "", 405, "allowed: GET"},
		{"GET", "/api/nothing", "", 404, "no such path"},
	} {
		w := do(h, tc.method, tc.path, tc.body)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.says) {
			t.Errorf("%s %s %.40q: %d %s, want %d saying %q", tc.method, tc.path, tc.body, w.Code, w.Body, tc.code, tc.says)
		}
		var e errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Errorf("%s %s: error body %q is not JSON with an error", tc.method, tc.path, w.Body)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("client errors logged: %s", logs)
	}
}

// TestBudget: a request over the configured CPU budget is refused with 422 and the reason,
// before the model is even loaded.
func TestBudget(t *testing.T) {
	assets := tinyAssets(t)
	fetched := map[string]int{}
	fetch := mapFetch(assets)
	s := &Server{Budget: Budget{CPUms: 50, GFLOPS: 0.1}, Fetch: func(ctx context.Context, p string) ([]byte, error) {
		fetched[p]++
		return fetch(ctx, p)
	}}
	h := s.Handler()
	w := do(h, "POST", "/api/sample", `{"prompt":"It is a truth","length":40,"steps":40}`)
	if w.Code != 422 || !strings.Contains(w.Body.String(), "CPU") || !strings.Contains(w.Body.String(), "allows 50 ms") {
		t.Errorf("over budget: %d %s", w.Code, w.Body)
	}
	for p := range fetched {
		if p != ManifestPath {
			t.Errorf("refused request still read %s", p)
		}
	}
	// A cheap one fits: 1 call over 2 positions.
	if w := do(h, "POST", "/api/sample", `{"prompt":"a","length":1,"steps":1}`); w.Code != 200 {
		t.Errorf("cheap request: %d %s", w.Code, w.Body)
	}
	md, _ := s.manifest.Find("")
	b := Budget{GFLOPS: 1, LoadMBps: 1, BaseMs: 2}
	cold, warm := b.Estimate(md, 10, 20, 5, false), b.Estimate(md, 10, 20, 5, true)
	if want := 2 + 5*ForwardFLOPs(md.Config, 30)/1e6; warm != want || cold != want+float64(md.Bytes)/1e3 {
		t.Errorf("estimates %g %g, want %g and %g more cold", warm, cold, want, float64(md.Bytes)/1e3)
	}
}

// TestRecover: a panic becomes a logged JSON 500 and the handler keeps serving.
func TestRecover(t *testing.T) {
	var logs bytes.Buffer
	n := 0
	h := Recover(log.New(&logs, "", 0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			var m map[string]int
			m["x"]++ // a nil map: a bug, not input
		}
		io.WriteString(w, "fine")
	}))
	if w := do(h, "GET", "/", ""); w.Code != 500 || !strings.Contains(w.Body.String(), "internal error") {
		t.Errorf("panic: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "panic serving GET /") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("log: %s", logs.String())
	}
	if w := do(h, "GET", "/", ""); w.Code != 200 || w.Body.String() != "fine" {
		t.Errorf("after the panic: %d %s", w.Code, w.Body)
	}
}

// FuzzSample: whatever the body, the answer is a client error or a sample, never a 500.
// The budget keeps the samples that parse small (build/fuzz.sh ./wasm/edge/api).
func FuzzSample(f *testing.F) {
	for _, s := range []string{
		`{"prompt":"It is"}`, `{"length":3,"steps":2,"strategy":"random","temperature":0}`, `{`, `null`, `""`,
		`{"seed":1e30}`, `{"prompt":"___ x","length":2,"steps":1}`, `{"stream":true,"length":2,"steps":2}`,
		`{"length":40,"steps":1,"topP":0.5,"prompt":"` + strings.Repeat("a b ", 30) + `"}`, "{\"prompt\":\"\xff\xfe\"}",
	} {
		f.Add(s)
	}
	s, logs := newServer(f, Budget{CPUms: 300, GFLOPS: 0.1})
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- do(h, "POST", "/api/sample", body) }()
		var w *httptest.ResponseRecorder
		select {
		case w = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: no answer after 10 s", body)
		}
		switch w.Code {
		case 200, 400, 413, 422:
		default:
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
		if logs.Len() != 0 {
			t.Fatalf("%q logged %s", body, logs)
		}
	})
}
