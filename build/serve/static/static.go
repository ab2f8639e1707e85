// Package static serves the built site: correct MIME types (application/wasm for the
// engine), year-long immutable caching for content-hashed files, revalidation for the
// rest, gzip where a precompressed .gz sits next to a file, and CORS so that pages on other
// origins can embed the widget.
package static

import (
	"io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
)

// Hashed matches the content-hashed names the site build gives the engine and the
// weights, e.g. tdiff.0123456789abcdef.wasm: their bytes never change under that name.
var Hashed = regexp.MustCompile(`\.[0-9a-f]{16}\.[a-z0-9_]+$`)

// Immutable is the Cache-Control of content-hashed files.
const Immutable = "public, max-age=31536000, immutable"

var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".wasm": "application/wasm",
	".ckpt": "application/octet-stream",
	".png":  "image/png",
	".svg":  "image/svg+xml",
	".txt":  "text/plain; charset=utf-8",
}

// Handler serves the files under dir. Directories serve their index.html and are never
// listed; names starting with a dot are not served.
func Handler(dir string) http.Handler {
	fsys := os.DirFS(dir)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		for _, part := range strings.Split(name, "/") {
			if strings.HasPrefix(part, ".") && part != "." {
				http.NotFound(w, r)
				return
			}
		}
		st, err := fs.Stat(fsys, name)
		if err == nil && st.IsDir() {
			if !strings.HasSuffix(r.URL.Path, "/") {
				http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
				return
			}
			name = path.Join(name, "index.html")
			st, err = fs.Stat(fsys, name)
		}
		if err != nil || !st.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		ext := path.Ext(name)
		if t, ok := types[ext]; ok {
			h.Set("Content-Type", t)
		}
		if Hashed.MatchString(name) {
			h.Set("Cache-Control", Immutable)
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		// Cross-origin isolation, which gives the page shared memory: the engine's
		// helper threads (wasm/simd) need it.
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Embedder-Policy", "require-corp")
		serve := name
		if ext != ".ckpt" && acceptsGzip(r) {
			if gz, err := fs.Stat(fsys, name+".gz"); err == nil && gz.Mode().IsRegular() {
				serve, st = name+".gz", gz
				h.Set("Content-Encoding", "gzip")
			}
			h.Add("Vary", "Accept-Encoding")
		}
		f, err := fsys.Open(serve)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, name, st.ModTime(), f.(readSeeker))
	})
}

type readSeeker interface {
	Read([]byte) (int, error)
	Seek(int64, int) (int64, error)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
