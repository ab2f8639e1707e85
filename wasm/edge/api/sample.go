package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/engine"
)

// Limits of a sampling request. A body over MaxBody is answered 413; the rest are 400s.
const (
	MaxBody        = 16 << 10 // bytes of JSON
	MaxPrompt      = 4096     // bytes of prompt (the window keeps its last tokens)
	MaxSteps       = 256
	MaxTemperature = 2.0
)

// Defaults of a sampling request, chosen so that one request costs about a second of CPU
// on the default model (README, "On the edge").
const (
	DefaultLength      = 32
	DefaultSteps       = 16
	DefaultStrategy    = "semi-ar"
	DefaultTemperature = 0.8
	DefaultTopP        = 0.9 // core/cmd/sample's default
	SemiARBlock        = 8   // core/cmd/sample's default block for semi-ar
)

// Strategies are the sampler's strategies the API accepts (core/sample.Options) for a
// masked model; an autoregressive model ignores them and reports Autoregressive.
var Strategies = []string{"semi-ar", "low-confidence", "random", "threshold"}

// Autoregressive is the strategy reported for an autoregressive model's sample.
const Autoregressive = "autoregressive"

// SampleRequest is POST /api/sample's body. Absent fields take the defaults above; an
// absent seed is drawn at random and reported.
type SampleRequest struct {
	Prompt      string   `json:"prompt"`
	Length      *int     `json:"length"`
	Steps       *int     `json:"steps"`
	Strategy    string   `json:"strategy"`
	Temperature *float64 `json:"temperature"`
	TopP        *float64 `json:"topP"` // nucleus: keep the likeliest tokens holding this probability (0 or 1: all)
	Seed        *uint64  `json:"seed"`
	Model       string   `json:"model"`
	Stream      bool     `json:"stream"` // answer NDJSON: one line per step, then the result
}

// SampleResponse is the result (the last NDJSON line when streaming, with Done set).
type SampleResponse struct {
	Done        bool    `json:"done,omitempty"`
	Model       string  `json:"model"`
	Text        string  `json:"text"`      // prompt (as kept in the window) and what was written, to the first end of text
	Generated   string  `json:"generated"` // what was written alone
	IDs         []int32 `json:"ids"`       // the whole sequence's tokens
	Tokens      int     `json:"tokens"`    // positions sampled
	NFE         int     `json:"nfe"`       // network calls
	Steps       int     `json:"steps"`     // steps that committed tokens
	Trimmed     int     `json:"trimmed"`   // prompt tokens dropped from the left to fit the window
	Seed        uint64  `json:"seed"`
	Strategy    string  `json:"strategy"`
	Temperature float64 `json:"temperature"`
	TopP        float64 `json:"topP"`
	EstimatedMs float64 `json:"estimatedCpuMs"` // the budget check's estimate
}

// StepLine is one streamed step.
type StepLine struct {
	Step   int    `json:"step"`
	NFE    int    `json:"nfe"`
	Masked int    `json:"masked"` // positions still masked
	Text   string `json:"text"`   // the sequence so far, masked positions left out
	States []int8 `json:"states"` // per position: core/engine's Given, Masked, Written, Committed, End
}

// job is a checked request.
type job struct {
	req    engine.Request
	model  Model
	stream bool
	est    float64 // estimated CPU ms
}

// parse reads and checks the body (callers hold s.mu): 413 for an oversize body, 400 for bad
// JSON, unknown fields, values out of range or an unknown model, 422 (errBudget) for a
// request that cannot fit the CPU budget.
func (s *Server) parse(w http.ResponseWriter, r *http.Request, m *Manifest) (job, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return job{}, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", MaxBody)
	}
	if err != nil {
		return job{}, http.StatusBadRequest, fmt.Errorf("reading the body: %v", err)
	}
	bad := func(format string, args ...any) (job, int, error) {
		return job{}, http.StatusBadRequest, fmt.Errorf(format, args...)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return bad(`empty body: send JSON such as {"prompt":"It is a truth"}`)
	}
	var sr SampleRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr); err != nil {
		return bad("body is not a valid sampling request: %v", err)
	}
	if dec.More() {
		return bad("body holds more than one JSON value")
	}
	md, ok := m.Find(sr.Model)
	if !ok {
		return bad("model %q: not served here (GET /api/models lists them)", sr.Model)
	}
	length, steps, temp, topP := DefaultLength, DefaultSteps, DefaultTemperature, DefaultTopP
	if sr.Length != nil {
		length = *sr.Length
	}
	if sr.Steps != nil {
		steps = *sr.Steps
	}
	if sr.Temperature != nil {
		temp = *sr.Temperature
	}
	if sr.TopP != nil {
		topP = *sr.TopP
	}
	strategy := sr.Strategy
	if strategy == "" {
		strategy = DefaultStrategy
	}
	maxLen := md.Config.SeqLen - 1
	switch {
	case len(sr.Prompt) > MaxPrompt:
		return bad("prompt of %d bytes: at most %d", len(sr.Prompt), MaxPrompt)
	case length < 1 || length > maxLen:
		return bad("length %d: want 1 to %d tokens", length, maxLen)
	case steps < 1 || steps > MaxSteps:
		return bad("steps %d: want 1 to %d", steps, MaxSteps)
	case !(temp >= 0 && temp <= MaxTemperature):
		return bad("temperature %g: want 0 to %g", temp, MaxTemperature)
	case !(topP >= 0 && topP <= 1):
		return bad("topP %g: want 0 to 1", topP)
	case !slices.Contains(Strategies, strategy):
		return bad("strategy %q: want one of %s", strategy, strings.Join(Strategies, ", "))
	}
	seed := rand.Uint64()
	if sr.Seed != nil {
		seed = *sr.Seed
	}
	req := engine.Request{Prompt: sr.Prompt, Length: length, Steps: steps, Strategy: strategy, Temperature: temp, TopP: topP, Seed: seed, Backend: "cpu", StopAtEOT: true}
	switch {
	case md.Config.Causal: // one call per token, left to right: steps and strategy do not apply
		req.Steps, req.Strategy = length, Autoregressive
	case strategy == "semi-ar":
		req.BlockLength = SemiARBlock
	}
	est := s.Budget.Estimate(md, len(sr.Prompt), length, req.Steps, s.eng != nil && s.name == md.Name)
	if !s.Budget.Fits(est) {
		return job{}, http.StatusUnprocessableEntity, fmt.Errorf("%w: %s", errBudget, s.Budget.Refusal(est))
	}
	return job{req: req, model: md, stream: sr.Stream, est: est}, 0, nil
}

func (s *Server) sample(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.loadManifest(r.Context())
	if err != nil {
		s.logf("%v", err)
		writeError(w, http.StatusServiceUnavailable, "model manifest unavailable: %v", err)
		return
	}
	j, status, err := s.parse(w, r, m)
	if err != nil {
		writeError(w, status, "%v", err)
		return
	}
	e, err := s.engineFor(r.Context(), j.model)
	if err != nil {
		s.logf("%v", err)
		writeError(w, http.StatusServiceUnavailable, "model %s unavailable: %v", j.model.Name, err)
		return
	}
	var onStep func(engine.Step)
	var enc *json.Encoder
	if j.stream {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		enc = json.NewEncoder(w)
		flusher, _ := w.(http.Flusher)
		onStep = func(st engine.Step) {
			enc.Encode(StepLine{Step: st.Step, NFE: st.NFE, Masked: st.Masked, Text: strings.Join(st.Texts, ""), States: st.States})
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
	out, err := e.Sample(r.Context(), j.req, onStep)
	if err != nil {
		// The request was checked; what is left is the prompt not fitting (engine.Input)
		// or a canceled request.
		if j.stream {
			enc.Encode(errorBody{err.Error()})
			return
		}
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	resp := SampleResponse{
		Model: j.model.Name, Text: out.Text, IDs: out.IDs, Tokens: out.Tokens, NFE: out.NFE, Steps: out.Steps,
		Trimmed: out.Trimmed, Seed: j.req.Seed, Strategy: j.req.Strategy, Temperature: j.req.Temperature, TopP: j.req.TopP, EstimatedMs: j.est,
	}
	resp.Generated = generated(out.Pieces)
	if j.stream {
		resp.Done = true
		enc.Encode(resp)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// generated is the text of the positions the model wrote.
func generated(p engine.Pieces) string {
	var b strings.Builder
	for i, t := range p.Texts {
		if p.States[i] != engine.Given {
			b.WriteString(t)
		}
	}
	return b.String()
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// errBudget marks a request refused for its CPU cost.
var errBudget = errors.New("over the CPU budget")
