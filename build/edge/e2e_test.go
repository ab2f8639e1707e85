//go:build linux

// Package edge holds the edge worker's end-to-end test: build/out/edge (build/edge/build.sh)
// on workerd, on 127.0.0.1, through HTTP only. It runs with TDIFF_EDGE_E2E=1 (make
// test-edge builds first and sets it) and needs build/edge/node_modules (npm ci there).
package edge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/wasm/edge/api"
)

const outDir = "../out/edge"

// testBudgetMs is the CPU budget the worker runs with here (TDIFF_CPU_MS).
const testBudgetMs = "5000"

// client bounds every request: the longest sample here takes seconds, a hung one fails.
var client = &http.Client{Timeout: 2 * time.Minute}

// worker is workerd serving build/out/edge.
type worker struct {
	base string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func start(t *testing.T) *worker {
	t.Helper()
	if os.Getenv("TDIFF_EDGE_E2E") != "1" {
		t.Skip("set TDIFF_EDGE_E2E=1 after build/edge/build.sh (make test-edge does both)")
	}
	// The platform package's binary itself: node_modules/.bin/workerd is a Node script
	// that starts it as a child when npm ran without install scripts, and killing that
	// script would leave workerd running (and its CPU time would not be the script's).
	bins, _ := filepath.Glob("node_modules/@cloudflare/workerd-*/bin/workerd")
	if len(bins) == 0 {
		t.Fatal("no workerd: run npm ci in build/edge (make setup does)")
	}
	bin, err := filepath.Abs(bins[0])
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(outDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "workerd.capnp")); err != nil {
		t.Fatalf("no build: run build/edge/build.sh (%v)", err)
	}
	// The deployed budget (30 s) admits every request the bounds allow on this machine's
	// speed; the test runs with 5 s so that the longest ones are refused.
	capnp, err := os.ReadFile(filepath.Join(dir, "workerd.capnp"))
	if err != nil {
		t.Fatal(err)
	}
	const deployed = `(name = "TDIFF_CPU_MS", text = "30000")`
	if !bytes.Contains(capnp, []byte(deployed)) {
		t.Fatalf("workerd.capnp no longer binds %s", deployed)
	}
	capnp = bytes.Replace(capnp, []byte(deployed), []byte(`(name = "TDIFF_CPU_MS", text = "`+testBudgetMs+`")`), 1)
	if err := os.WriteFile(filepath.Join(dir, "workerd-test.capnp"), capnp, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w := &worker{base: "http://" + addr, log: &bytes.Buffer{}}
	w.cmd = exec.Command(bin, "serve", "workerd-test.capnp", "--socket-addr", "http="+addr, "--directory-path", "files="+filepath.Join(dir, "assets"))
	w.cmd.Dir = dir
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, killed as one
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		w.cmd.Wait()
		if t.Failed() {
			t.Logf("workerd's output:\n%s", w.log)
		}
	})
	probe := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := probe.Get(w.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return w
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("workerd not answering /healthz: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// call makes one request; header is name, value pairs (a name may repeat).
func (w *worker) call(t testing.TB, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, w.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return resp, b
}

func (w *worker) manifest(t *testing.T) api.Manifest {
	resp, b := w.call(t, "GET", "/api/models", "")
	var m api.Manifest
	if err := json.Unmarshal(b, &m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/api/models: %d %s (%v)", resp.StatusCode, b, err)
	}
	return m
}

func TestSiteAndWeights(t *testing.T) {
	w := start(t)
	resp, b := w.call(t, "GET", "/", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		resp.Header.Get("Cache-Control") != "no-cache" || !bytes.Contains(b, []byte("<html")) {
		t.Errorf("/: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := w.call(t, "GET", "/site/client.js", ""); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("/site/client.js: %d %v", resp.StatusCode, resp.Header)
	}
	m := w.manifest(t)
	md, _ := m.Find("")
	resp, b = w.call(t, "GET", md.File, "")
	sum := sha256.Sum256(b)
	switch {
	case resp.StatusCode != 200:
		t.Fatalf("%s: %d", md.File, resp.StatusCode)
	case resp.Header.Get("Content-Type") != "application/octet-stream":
		t.Errorf("%s: Content-Type %q", md.File, resp.Header.Get("Content-Type"))
	case resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable":
		t.Errorf("%s: Cache-Control %q", md.File, resp.Header.Get("Cache-Control"))
	case int64(len(b)) != md.Bytes || hex.EncodeToString(sum[:]) != md.SHA256:
		t.Errorf("%s: %d bytes, sha256 %x; the manifest says %d, %s", md.File, len(b), sum, md.Bytes, md.SHA256)
	case !strings.Contains(md.File, md.SHA256[:16]):
		t.Errorf("%s is not named by its hash %s", md.File, md.SHA256[:16])
	}
	tag := resp.Header.Get("ETag")
	if tag == "" {
		t.Fatalf("%s: no ETag", md.File)
	}
	if resp, b := w.call(t, "GET", md.File, "", "If-None-Match", tag); resp.StatusCode != 304 || len(b) != 0 {
		t.Errorf("%s with If-None-Match: %d, %d bytes", md.File, resp.StatusCode, len(b))
	}
	if resp, _ := w.call(t, "GET", "/site/none.ckpt", ""); resp.StatusCode != 404 {
		t.Errorf("missing file: %d", resp.StatusCode)
	}
}

func TestAPI(t *testing.T) {
	w := start(t)
	m := w.manifest(t)
	if len(m.Models) != 4 || m.Default != "austen-mdm.q8_0" {
		t.Errorf("manifest: %d models, default %q", len(m.Models), m.Default)
	}
	// The quirks, through the real worker: a date split on its comma, a POST without body.
	resp, _ := w.call(t, "GET", "/api/models", "", "If-Modified-Since", m.Built.Add(time.Hour).Format(http.TimeFormat))
	if resp.StatusCode != 304 {
		t.Errorf("/api/models with If-Modified-Since: %d, want 304", resp.StatusCode)
	}
	if resp, b := w.call(t, "POST", "/api/sample", ""); resp.StatusCode != 400 || !bytes.Contains(b, []byte("empty body")) {
		t.Errorf("POST without a body: %d %s", resp.StatusCode, b)
	}
	// The README's example.
	resp, b := w.call(t, "POST", "/api/sample", `{"prompt":"It is a truth"}`)
	var got api.SampleResponse
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(got.Text, "It is a truth") || len(got.Generated) < 10 {
		t.Fatalf("sample: %d %s (%v)", resp.StatusCode, b, err)
	}
	t.Logf("sample: %q", got.Text)
	// Streamed.
	resp, b = w.call(t, "POST", "/api/sample", `{"prompt":"It is a truth","length":8,"steps":4,"seed":1,"stream":true}`)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last api.SampleResponse
	if resp.Header.Get("Content-Type") != "application/x-ndjson" || len(lines) != 5 || json.Unmarshal([]byte(lines[4]), &last) != nil || !last.Done {
		t.Errorf("stream: %v\n%s", resp.Header, b)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/api/sample", `{"prompt":`, 400},
		{"POST", "/api/sample", `{"prompt":"a","colour":1}`, 400},
		{"POST", "/api/sample", `{"length":1000}`, 400},
		{"POST", "/api/sample", `{"temperature":9}`, 400},
		{"POST", "/api/sample", `{"model":"austen-ar.f32"}`, 400},
		{"POST", "/api/sample", `{"prompt":"` + strings.Repeat("x", api.MaxBody) + `"}`, 413},
		{"POST", "/api/sample", `{"length":127,"steps":127,"prompt":"` + strings.Repeat("x", 200) + `"}`, 422},
		{"POST", "/api/sample", `{"model":"austen-ar.q8_0","length":120}`, 422},
		{"GET", "/api/sample", "", 405},
		{"PUT", "/api/models", "{}", 405},
		{"GET", "/api/none", "", 404},
	} {
		resp, b := w.call(t, tc.method, tc.path, tc.body)
		var e struct{ Error string }
		if resp.StatusCode != tc.code || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s %s %.40s: %d %s, want %d with a JSON error", tc.method, tc.path, tc.body, resp.StatusCode, b, tc.code)
		}
	}
	if resp, _ := w.call(t, "GET", "/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("healthz after the bad requests: %d", resp.StatusCode)
	}
}

// TestSameAsSampleCommand: the worker (wasm, SIMD kernel) writes the tokens that the
// native command writes with the same settings and seed, for both paradigms.
func TestSameAsSampleCommand(t *testing.T) {
	w := start(t)
	bin := filepath.Join(t.TempDir(), "sample")
	if out, err := exec.Command("go", "build", "-o", bin, "../../core/cmd/sample").CombinedOutput(); err != nil {
		t.Fatalf("building core/cmd/sample: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		model       string
		strategy    string
		length      int
		steps       int
		temperature float64
		seed        uint64
	}{
		{"austen-mdm.q8_0", "semi-ar", 32, 16, 0.8, 3}, // the API's defaults
		{"austen-mdm.q8_0", "low-confidence", 24, 24, 1, 11},
		{"austen-mdm.q4_0", "random", 16, 8, 0, 5},
		{"austen-ar.q8_0", "", 16, 16, 0.8, 2},
	} {
		body := fmt.Sprintf(`{"model":%q,"prompt":"It is a truth","length":%d,"steps":%d,"strategy":%q,"temperature":%g,"seed":%d}`,
			tc.model, tc.length, tc.steps, tc.strategy, tc.temperature, tc.seed)
		resp, b := w.call(t, "POST", "/api/sample", body)
		var got api.SampleResponse
		if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
		args := []string{"-model", "../../weights/" + tc.model + ".ckpt", "-json", "-prompt", "It is a truth",
			"-n", strconv.Itoa(tc.length), "-steps", strconv.Itoa(tc.steps),
			"-temperature", fmt.Sprint(tc.temperature), "-seed", fmt.Sprint(tc.seed)}
		if tc.strategy != "" {
			args = append(args, "-strategy", tc.strategy)
		}
		if tc.strategy == "semi-ar" {
			args = append(args, "-block", strconv.Itoa(api.SemiARBlock))
		}
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("sample %v: %v", args, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var native struct{ IDs []int32 }
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &native); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs, native.IDs) {
			t.Errorf("%s:\nworker %v\nnative %v", body, got.IDs, native.IDs)
		}
	}
}

// TestLoad sends 1,000 requests, 50 at a time, with no error allowed: most are cheap
// (health, manifest, a static file, a bad request), one in 25 samples a short text (a
// full default sample costs seconds of CPU on this machine's one workerd thread).
// It reports latencies and, from workerd's own CPU time, the cost of a default sample.
func TestLoad(t *testing.T) {
	w := start(t)
	const n, conc = 1000, 50
	kinds := []struct {
		name, method, path, body string
		code                     int
	}{
		{"healthz", "GET", "/healthz", "", 200},
		{"models", "GET", "/api/models", "", 200},
		{"static", "GET", "/site/client.js", "", 200},
		{"bad", "POST", "/api/sample", `{"steps":-1}`, 400},
	}
	sample := struct {
		name, method, path, body string
		code                     int
	}{"sample", "POST", "/api/sample", `{"prompt":"It is a truth","length":4,"steps":2,"seed":1}`, 200}
	before := cpuMs(t, w.cmd.Process.Pid)
	w.call(t, "POST", "/api/sample", sample.body) // load the model first
	t.Logf("cpu: first sample of the isolate, loading the model: %.1f ms CPU", cpuMs(t, w.cmd.Process.Pid)-before)
	lat := map[string][]time.Duration{}
	var mu sync.Mutex
	var errs []string
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				k := kinds[i%len(kinds)]
				if i%25 == 0 {
					k = sample
				}
				req, _ := http.NewRequest(k.method, w.base+k.path, strings.NewReader(k.body))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != k.code {
						err = fmt.Errorf("status %d, want %d", resp.StatusCode, k.code)
					}
				}
				d := time.Since(t0)
				mu.Lock()
				lat[k.name] = append(lat[k.name], d)
				lat["all"] = append(lat["all"], d)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s #%d: %v", k.name, i, err))
				}
				mu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	wall := time.Since(t0)
	if len(errs) > 0 {
		t.Errorf("%d of %d requests failed, first: %s", len(errs), n, errs[0])
	}
	t.Logf("load: %d requests, %d concurrent, %.1f s, %.0f requests/s", n, conc, wall.Seconds(), n/wall.Seconds())
	for _, k := range []string{"all", "healthz", "models", "static", "bad", "sample"} {
		d := lat[k]
		slices.Sort(d)
		t.Logf("load: %-8s %4d requests  p50 %7.1f ms  p99 %7.1f ms", k, len(d), ms(d[len(d)/2]), ms(d[len(d)*99/100]))
	}

	// CPU per sample by size: workerd's CPU time over sequential requests (the isolate
	// runs one request's Go code at a time), median of runs, beside the worker's estimate.
	for _, c := range []struct {
		body string
		runs int
	}{
		{`{"prompt":"It","length":1,"steps":1}`, 5},
		{`{"prompt":"It is a truth","length":8,"steps":4}`, 3},
		{`{"prompt":"It is a truth"}`, 3},                        // the defaults: 32 tokens, 16 steps
		{`{"prompt":"It is a truth","length":48,"steps":48}`, 1}, // the longest that fits the test budget
	} {
		var cpu []float64
		var est float64
		for i := range c.runs {
			body := strings.Replace(c.body, "{", fmt.Sprintf(`{"seed":%d,`, i), 1)
			before := cpuMs(t, w.cmd.Process.Pid)
			resp, b := w.call(t, "POST", "/api/sample", body)
			if resp.StatusCode != 200 {
				t.Fatalf("sample: %d %s", resp.StatusCode, b)
			}
			cpu = append(cpu, cpuMs(t, w.cmd.Process.Pid)-before)
			var r api.SampleResponse
			json.Unmarshal(b, &r)
			est = r.EstimatedMs
		}
		slices.Sort(cpu)
		t.Logf("cpu: sample %-52s median %7.1f ms CPU (runs %.1f); estimated %6.0f ms", c.body, cpu[len(cpu)/2], cpu, est)
	}
	// And of the cheap requests, 200 in a row each.
	for _, p := range []string{"/healthz", "/api/models", "/site/client.js"} {
		before := cpuMs(t, w.cmd.Process.Pid)
		for range 200 {
			if resp, _ := w.call(t, "GET", p, ""); resp.StatusCode != 200 {
				t.Fatalf("%s: %d", p, resp.StatusCode)
			}
		}
		t.Logf("cpu: GET %-16s %.2f ms CPU per request (workerd in all)", p, (cpuMs(t, w.cmd.Process.Pid)-before)/200)
	}
	_, b := w.call(t, "GET", "/healthz", "")
	t.Logf("memory: %s; workerd RSS %.0f MB", bytes.TrimSpace(b), rssMB(t, w.cmd.Process.Pid))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuMs is the CPU time the process's threads have run, from /proc/PID/task/*/schedstat
// (nanoseconds; the tick counts of /proc/PID/stat are 10 ms coarse).
func cpuMs(t *testing.T, pid int) float64 {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no /proc/%d/task/*/schedstat: %v", pid, err)
	}
	var ns float64
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // a thread that ended
		}
		v, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
		ns += v
	}
	return ns / 1e6
}

func rssMB(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}
