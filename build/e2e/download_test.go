package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/austen-diffusion/textdiffusion/build/serve/static"
)

// breakOff writes the first left bytes of a response and then drops the connection, as a
// flaky network does.
type breakOff struct {
	http.ResponseWriter
	left int
}

func (w *breakOff) Write(b []byte) (int, error) {
	if len(b) > w.left {
		b = b[:w.left]
	}
	n, err := w.ResponseWriter.Write(b)
	w.left -= n
	if w.left <= 0 {
		w.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // net/http closes the connection mid-body
	}
	return n, err
}

// TestCPUDownloadResumes serves the weights' first download only in part: the page must
// take it up again with a Range request (or, from a server that ignores Range, start
// again), say so, and load the model.
func TestCPUDownloadResumes(t *testing.T) {
	e := setup(t)
	ctx := e.browser(t, false)
	for _, ignoreRange := range []bool{false, true} {
		name := map[bool]string{false: "resume", true: "restart"}[ignoreRange]
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var ranges []string // the Range header of each request for the weights
			site := static.Handler(e.site)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasSuffix(r.URL.Path, ".ckpt") {
					site.ServeHTTP(w, r)
					return
				}
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				first := len(ranges) == 1
				mu.Unlock()
				if first {
					w = &breakOff{ResponseWriter: w, left: 3 << 20}
				}
				if ignoreRange {
					r.Header.Del("Range")
				}
				site.ServeHTTP(w, r)
			}))
			defer srv.Close() // a new origin each time: its Cache Storage is empty
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
				t.Fatal(err)
			}
			e.waitFor(t, ctx, "the model to load after the broken download", readyPred, e.timeout)
			s := e.state(t, ctx)
			mu.Lock()
			defer mu.Unlock()
			if s.Backend == "" || s.Source != "network" {
				t.Fatalf("after a broken download: backend %q, weights from %q, status %q", s.Backend, s.Source, s.Status)
			}
			if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") || ranges[1] == "bytes=0-" {
				t.Errorf("requests for the weights had Range %q, want none and then a resume past byte 0", ranges)
			}
			if len(s.Notices) != 1 || !strings.Contains(s.Notices[0], "broke off") {
				t.Errorf("notices %q, want one about the broken download", s.Notices)
			}
			t.Logf("%s: weights requested with Range %q; notice %q", name, ranges, s.Notices)
			// The progress went on past the break, and the next visit reads the cache with
			// progress of its own.
			type step struct {
				Phase, Source string
				Loaded, Total int
			}
			progress := func() []step {
				p, err := chromedp.Run(ctx, chromedp.Evaluate[[]step](`window.tdiffDemo.progress`))
				if err != nil || len(p) == 0 {
					t.Fatalf("progress %v (%v)", p, err)
				}
				return p
			}
			var end step // the last of the download's progress
			for _, x := range progress() {
				if x.Phase == "download" {
					end = x
				}
			}
			if end.Source != "network" || end.Loaded != end.Total || end.Total < 3<<20 {
				t.Errorf("download progress ended at %+v, want all of it from the network", end)
			}
			mu.Unlock()
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
				t.Fatal(err)
			}
			e.waitFor(t, ctx, "the model to load from the cache", readyPred, e.timeout)
			mu.Lock()
			p := progress()
			read, size := -1, 0 // bytes read from the cache before they are checked, of size
			for _, x := range p {
				if x.Phase == "checking cached weights" {
					break
				}
				if x.Phase == "download" && x.Source == "cache" {
					read, size = x.Loaded, x.Total
				}
			}
			if e.state(t, ctx).Source != "cache" || read != size || size != end.Total || len(ranges) != 2 {
				t.Errorf("second visit: read %d bytes from the cache before checking them, progress %+v, %d requests for the weights", read, p, len(ranges))
			}
		})
	}
}
