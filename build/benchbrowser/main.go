//go:build !js

// Command benchbrowser times one forward pass of our CPU path (f32 and Q8_0 release files
// on one thread, Q8_0 on two) and of onnxruntime-web's wasm EP (1 and 2 threads) on the same model and the same
// tokens in one headless Chromium, and prints medians and ratios. build/bench-browser.sh
// (make bench-browser) prepares its folder and runs it:
//
//	go run ./build/benchbrowser -dir build/out/bench
//
// The folder holds ours.wasm (build/benchbrowser/ours) and its shared-memory build
// ours-shared.wasm (build/sharemem), wasm_exec.js and site/sharedmem.js, the two release
// files and the ONNX export. Pages are served from 127.0.0.1 with the cross-origin
// isolation headers (COOP/COEP) that ORT's threads need; each case runs in a fresh tab,
// the cases in turn for -rounds rounds so that a busy machine slows them alike. It fails
// when a case's logits differ from ours on f32 weights by more than the page's GPU
// self-test tolerance, so a short run (make test-browser) checks our CPU path against
// onnxruntime-web.
package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/austen-diffusion/textdiffusion/build/headless"
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/engine"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
)

//go:embed page
var page embed.FS

type benchCase struct {
	name, engine, file string
	threads            int
}

type result struct {
	What     string `json:"what"`
	Isolated bool   `json:"isolated"`
	Error    string `json:"error"`

	Times                 []float64 // ms, wall clock, each forward pass
	ThreadCPU, ProcessCPU float64   // ms of CPU a forward pass: the page's main thread, its renderer process
	Logits                []float64 // the first two rows
}

func main() {
	dir := flag.String("dir", "build/out/bench", "folder with ours.wasm, wasm_exec.js, the release files and the ONNX file")
	ortDir := flag.String("ort", "build/benchbrowser/node_modules/onnxruntime-web/dist", "onnxruntime-web's dist folder (npm ci --ignore-scripts in build/benchbrowser)")
	f32 := flag.String("f32", "austen-mdm.f32.ckpt", "f32 release file in -dir")
	q8 := flag.String("q8", "austen-mdm.q8_0.ckpt", "Q8_0 release file in -dir")
	onnxFile := flag.String("onnx", "austen-mdm.onnx", "ONNX export of the same model in -dir")
	warmup := flag.Int("warmup", 5, "forward passes before timing, per tab")
	runs := flag.Int("runs", 15, "timed forward passes per tab")
	rounds := flag.Int("rounds", 2, "times each case runs, in turn with the others")
	chromium := flag.String("chromium", "/usr/bin/chromium", "Chromium binary")
	jsFlags := flag.String("js-flags", "--no-liftoff", "V8 flags; the default compiles all WebAssembly with the optimizing compiler up front, so that the timings are the steady state even where a busy machine delays tiering up a large module (ORT's is 12 MB); empty for the browser's defaults")
	flag.Parse()
	if err := run(*dir, *ortDir, *f32, *q8, *onnxFile, *chromium, *jsFlags, *warmup, *runs, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "benchbrowser:", err)
		os.Exit(1)
	}
}

func run(dir, ortDir, f32, q8, onnxFile, chromium, jsFlags string, warmup, runs, rounds int) error {
	for _, f := range []string{"ours.wasm", "ours-shared.wasm", "wasm_exec.js", "sharedmem.js", f32, q8, onnxFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("%v (build/bench-browser.sh prepares the folder)", err)
		}
	}
	if _, err := os.Stat(filepath.Join(ortDir, "ort.wasm.min.mjs")); err != nil {
		return fmt.Errorf("%v: run npm ci --ignore-scripts in build/benchbrowser (build/setup.sh does)", err)
	}
	cfg, err := configOf(filepath.Join(dir, q8))
	if err != nil {
		return err
	}
	cases := []benchCase{
		{"ours CPU, f32 weights", "ours", f32, 1},
		{"ours CPU, Q8_0 weights", "ours", q8, 1},
		{"ours CPU, Q8_0 weights, 2 threads", "ours", q8, 2},
		{"onnxruntime-web wasm, 1 thread", "ort", onnxFile, 1},
		{"onnxruntime-web wasm, 2 threads", "ort", onnxFile, 2},
	}
	// The ratios printed: ORT's case over ours, on as many threads.
	pairs := [][2]int{{3, 0}, {3, 1}, {4, 2}, {4, 1}}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go http.Serve(ln, handler(dir, ortDir))

	profile, err := os.MkdirTemp("", "benchbrowser-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	opts := headless.Options(chromium, profile)
	if jsFlags != "" {
		opts = append(opts, chromedp.Flag("js-flags", jsFlags))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // start the browser now, so failures show here
		return fmt.Errorf("starting %s: %w", chromium, err)
	}

	fmt.Printf("one forward pass of %d positions (dim %d, %d layers, vocab %d): %d warm-up then %d timed per tab, %d rounds; js-flags %q; load average %s\n",
		cfg.SeqLen, cfg.Dim, cfg.Layers, cfg.Vocab, warmup, runs, rounds, jsFlags, loadAvg())
	all := make([]result, len(cases))
	cpu := make([][2][]float64, len(cases)) // per round: main thread, process
	for round := 0; round < rounds; round++ {
		for i, c := range cases {
			q := url.Values{"engine": {c.engine}, "file": {c.file}, "threads": {strconv.Itoa(c.threads)},
				"n": {strconv.Itoa(cfg.SeqLen)}, "vocab": {strconv.Itoa(cfg.Vocab)}}
			r, err := runTab(bctx, "http://"+ln.Addr().String()+"/?"+q.Encode(), warmup, runs, cfg.Vocab)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if c.threads > 1 && !r.Isolated {
				return fmt.Errorf("%s: the page is not cross-origin isolated, so it cannot start threads", c.name)
			}
			fmt.Printf("  round %d: %-34s median %7.1f ms wall, CPU a pass %7.1f ms main thread, %7.1f ms process\n",
				round+1, c.name, median(r.Times), r.ThreadCPU, r.ProcessCPU)
			all[i].What, all[i].Logits = r.What, r.Logits
			all[i].Times = append(all[i].Times, r.Times...)
			cpu[i][0] = append(cpu[i][0], r.ThreadCPU)
			cpu[i][1] = append(cpu[i][1], r.ProcessCPU)
		}
	}

	fmt.Printf("load average now %s (figures from a shared machine are comparable only within one run)\n", loadAvg())
	for i, c := range cases[1:] {
		if d := maxDiff(all[i+1].Logits, all[0].Logits); !(d <= engine.SelfTestTol) {
			return fmt.Errorf("%s: logits differ from ours on f32 weights by %.3g, more than the page's GPU self-test allows (%g)", c.name, d, engine.SelfTestTol)
		}
	}
	wall, thread := make([]float64, len(cases)), make([]float64, len(cases))
	fmt.Println("medians over all rounds: wall clock a pass; CPU a pass of the page's main thread and of the renderer process (per-round medians)")
	for i, c := range cases {
		wall[i], thread[i] = median(all[i].Times), median(cpu[i][0])
		fmt.Printf("  %-34s wall %7.1f ms (min %6.1f)  CPU main %7.1f ms  process %7.1f ms  (%s; max |logit - ours f32| %.2g)\n",
			c.name, wall[i], slices.Min(all[i].Times), thread[i], median(cpu[i][1]), all[i].What, maxDiff(all[i].Logits, all[0].Logits))
	}
	fmt.Println("ratios (above 1: ours is faster); CPU ratios hold for single-threaded cases on a busy machine, where wall clock mostly measures the other jobs:")
	for _, p := range pairs {
		ort, ours := p[0], p[1]
		line := fmt.Sprintf("  %s / %s: wall %.2f", cases[ort].name, cases[ours].name, wall[ort]/wall[ours])
		if cases[ort].threads == 1 && cases[ours].threads == 1 {
			line += fmt.Sprintf(", CPU main thread %.2f", thread[ort]/thread[ours])
		}
		fmt.Println(line)
	}
	return nil
}

// runTab opens url in a fresh tab, runs warmup forward passes, then runs timed ones
// between two readings of the renderer's CPU-time counters.
func runTab(bctx context.Context, u string, warmup, runs, vocab int) (result, error) {
	ctx, cancel := chromedp.NewContext(bctx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 10*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		return result{}, err
	}
	if _, err := chromedp.Call(ctx, performance.Enable, performance.EnableParams{}); err != nil {
		return result{}, err
	}
	r, err := chromedp.Run(ctx, chromedp.Poll[result]("window.benchReady", chromedp.WithPollingInterval(200*time.Millisecond)))
	if err != nil {
		return result{}, err
	}
	if r.Error != "" {
		return result{}, errors.New(r.Error)
	}
	runK := func(k int) ([]float64, error) {
		return chromedp.Run(ctx, chromedp.Evaluate[[]float64](fmt.Sprintf("window.bench.run(%d)", k), chromedp.EvalAwaitPromise))
	}
	if _, err := runK(warmup); err != nil {
		return result{}, err
	}
	m0, err := cpuTimes(ctx)
	if err != nil {
		return result{}, err
	}
	if r.Times, err = runK(runs); err != nil {
		return result{}, err
	}
	m1, err := cpuTimes(ctx)
	if err != nil {
		return result{}, err
	}
	r.ThreadCPU = 1000 * (m1[0] - m0[0]) / float64(runs)
	r.ProcessCPU = 1000 * (m1[1] - m0[1]) / float64(runs)
	r.Logits, err = chromedp.Run(ctx, chromedp.Evaluate[[]float64](fmt.Sprintf("window.bench.logits(%d)", 2*vocab)))
	return r, err
}

// cpuTimes reads the CPU seconds of the page's main thread and of its renderer process
// (all its threads, ORT's workers included).
func cpuTimes(ctx context.Context) ([2]float64, error) {
	var t [2]float64
	m, err := chromedp.Call(ctx, performance.GetMetrics, cdp.Empty{})
	if err != nil {
		return t, err
	}
	found := 0
	for _, x := range m.Metrics {
		switch x.Name {
		case "ThreadTime":
			t[0] = x.Value
			found++
		case "ProcessTime":
			t[1] = x.Value
			found++
		}
	}
	if found != 2 {
		return t, errors.New("Performance.getMetrics has no ThreadTime and ProcessTime")
	}
	return t, nil
}

// handler serves the page, the folder under /files/ and ORT under /ort/, every response
// with the headers that make the page cross-origin isolated (SharedArrayBuffer, threads).
func handler(dir, ortDir string) http.Handler {
	sub, _ := fs.Sub(page, "page")
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.FS(sub)))
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(dir))))
	mux.Handle("/ort/", http.StripPrefix("/ort/", http.FileServer(http.Dir(ortDir))))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Embedder-Policy", "require-corp")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

func configOf(path string) (model.Config, error) {
	var cfg model.Config
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	f, err := checkpoint.Decode(data)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(f.Config, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: config: %w", path, err)
	}
	return cfg, cfg.Validate()
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func maxDiff(a, b []float64) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.NaN()
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// loadAvg is the 1-minute load average, or "unknown" off Linux.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(bytes.Fields(b)) == 0 {
		return "unknown"
	}
	return string(bytes.Fields(b)[0])
}
