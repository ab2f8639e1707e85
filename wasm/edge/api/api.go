// Package api is the edge worker's HTTP API: the model manifest, sampling on the CPU
// under a CPU-time budget checked before any work, a streamed form with one NDJSON line
// per step, and a health check. It is plain net/http, so it runs and is tested natively
// as well as inside the worker (wasm/edge).
package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/austen-diffusion/textdiffusion/core/engine"
)

// Fetch reads one static asset by path (the worker's ASSETS binding; a directory in tests).
type Fetch func(ctx context.Context, path string) ([]byte, error)

// Server holds the manifest and at most one loaded model (the last one asked for), so
// that an isolate's memory stays that of one model.
type Server struct {
	Fetch  Fetch
	Budget Budget
	Log    *log.Logger

	mu       sync.Mutex // guards manifest, name and eng; held while sampling
	manifest *Manifest
	name     string
	eng      *engine.Engine
}

// Handler routes the API. Requests pass through the quirk workarounds and a recover that
// turns a panic into a logged 500, so one bad request never stops the worker.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/models", s.models)
	mux.HandleFunc("POST /api/sample", s.sample)
	for path, allow := range map[string]string{"/healthz": "GET, HEAD", "/api/models": "GET, HEAD", "/api/sample": "POST"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "%s %s: method not allowed (allowed: %s)", r.Method, path, allow)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such path: %s (the API is GET /api/models, POST /api/sample, GET /healthz)", r.URL.Path)
	})
	return Quirks(Recover(s.Log, mux))
}

// Quirks undoes two ways in which github.com/syumai/workers (v0.33.0) builds an
// http.Request differently from net/http's server:
//   - it splits every request header value on commas ("If-Modified-Since: Sun, 06 Dec
//     2026 ..." arrives as "Sun" and " 06 Dec 2026 ..."). JavaScript's Headers joins
//     repeated headers with ", " before Go sees them, so joining the pieces with ","
//     gives back the header as sent; natively it folds repeated headers into one line,
//     which HTTP defines as the same thing.
//   - r.Body is nil when the request has no body (a GET, or a POST without one), where
//     net/http promises a non-nil Body; reading it would panic.
func Quirks(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range r.Header {
			if len(vs) > 1 {
				r.Header[k] = []string{strings.Join(vs, ",")}
			}
		}
		if r.Body == nil {
			r.Body = http.NoBody
		}
		h.ServeHTTP(w, r)
	})
}

// Recover answers a panic in h with a JSON 500 and logs it with its stack.
func Recover(lg *log.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if lg != nil {
					lg.Printf("panic serving %s %s: %v\n%s", r.Method, r.URL.Path, p, debug.Stack())
				}
				writeError(w, http.StatusInternalServerError, "internal error (logged)")
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("api: response does not marshal: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// errorBody is every error's JSON.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorBody{fmt.Sprintf(format, args...)})
}

// Health is GET /healthz's answer.
type Health struct {
	OK    bool   `json:"ok"`
	Model string `json:"model"` // the model loaded in this isolate, "" before the first sample
	// MemSys is what the Go runtime holds (runtime.MemStats.Sys): in the worker, about
	// the size its linear memory has grown to, which WebAssembly never shrinks.
	MemSys    uint64 `json:"memSysBytes"`
	HeapInuse uint64 `json:"heapInuseBytes"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.mu.Lock()
	h := Health{OK: true, Model: s.name, MemSys: ms.Sys, HeapInuse: ms.HeapInuse}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, h)
}

// loadManifest fetches and parses the manifest once; callers hold s.mu.
func (s *Server) loadManifest(ctx context.Context) (*Manifest, error) {
	if s.manifest != nil {
		return s.manifest, nil
	}
	b, err := s.Fetch(ctx, ManifestPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ManifestPath, err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, err
	}
	s.manifest = m
	return m, nil
}

// models answers the manifest with its build time as Last-Modified and a hash as ETag,
// so clients revalidate with If-Modified-Since or If-None-Match and get a 304.
func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	m, err := s.loadManifest(r.Context())
	s.mu.Unlock()
	if err != nil {
		s.logf("%v", err)
		writeError(w, http.StatusServiceUnavailable, "model manifest unavailable: %v", err)
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic("api: manifest does not marshal: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", etag(b))
	http.ServeContent(w, r, "", m.Built, strings.NewReader(string(b)))
}

// engineFor returns the loaded engine of md, loading it (and dropping any other) first;
// callers hold s.mu.
func (s *Server) engineFor(ctx context.Context, md Model) (*engine.Engine, error) {
	if s.eng != nil && s.name == md.Name {
		return s.eng, nil
	}
	if s.eng != nil {
		s.eng.Close()
		s.eng, s.name = nil, ""
	}
	data, err := s.Fetch(ctx, md.File)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", md.File, err)
	}
	e, err := engine.Load(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", md.File, err)
	}
	s.eng, s.name = e, md.Name
	data = nil
	runtime.GC() // the file and its decoded payload are garbage now: free them before sampling
	return e, nil
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log.Printf(format, args...)
	}
}
