package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func site(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html":                        "<!doctype html>home",
		"site/app.js":                       "export {}",
		"site/tdiff.0123456789abcdef.wasm":  "\x00asm engine",
		"site/m.q8_0.fedcba9876543210.ckpt": "TDIFFCK\x00weights",
		"site/assets.json":                  "{}",
		"site/nested/readme.txt":            "no index here",
		".git/config":                       "secret",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(files["site/tdiff.0123456789abcdef.wasm"]))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "site/tdiff.0123456789abcdef.wasm.gz"), gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHeaders(t *testing.T) {
	h := Handler(site(t))
	for _, tc := range []struct {
		path, ctype, cache string
	}{
		{"/", "text/html; charset=utf-8", "no-cache"},
		{"/index.html", "text/html; charset=utf-8", "no-cache"},
		{"/site/app.js", "text/javascript; charset=utf-8", "no-cache"},
		{"/site/assets.json", "application/json", "no-cache"},
		{"/site/tdiff.0123456789abcdef.wasm", "application/wasm", Immutable},
		{"/site/m.q8_0.fedcba9876543210.ckpt", "application/octet-stream", Immutable},
	} {
		r := get(t, h, tc.path)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != tc.ctype || r.Header.Get("Cache-Control") != tc.cache {
			t.Errorf("%s: %d %q %q, want 200 %q %q", tc.path, r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"), tc.ctype, tc.cache)
		}
		if r.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: no CORS header", tc.path)
		}
		if r.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" || r.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
			t.Errorf("%s: not cross-origin isolated (COOP %q, COEP %q)", tc.path,
				r.Header.Get("Cross-Origin-Opener-Policy"), r.Header.Get("Cross-Origin-Embedder-Policy"))
		}
	}
}

func TestGzip(t *testing.T) {
	h := Handler(site(t))
	r := get(t, h, "/site/tdiff.0123456789abcdef.wasm", "Accept-Encoding", "gzip, br")
	if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("headers %v", r.Header)
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if string(body) != "\x00asm engine" {
		t.Errorf("body %q", body)
	}
	r = get(t, h, "/site/tdiff.0123456789abcdef.wasm")
	if body, _ := io.ReadAll(r.Body); r.Header.Get("Content-Encoding") != "" || string(body) != "\x00asm engine" {
		t.Errorf("without Accept-Encoding: %v %q", r.Header, body)
	}
	r = get(t, h, "/site/tdiff.0123456789abcdef.wasm", "Accept-Encoding", "gzip;q=0")
	if r.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it")
	}
}

func TestWeightsRangeAndLength(t *testing.T) {
	h := Handler(site(t))
	r := get(t, h, "/site/m.q8_0.fedcba9876543210.ckpt", "Accept-Encoding", "gzip")
	if r.Header.Get("Content-Length") != "15" || r.Header.Get("Content-Encoding") != "" {
		t.Errorf("weights: %v (progress needs Content-Length and no re-encoding)", r.Header)
	}
	r = get(t, h, "/site/m.q8_0.fedcba9876543210.ckpt", "Range", "bytes=0-6")
	if body, _ := io.ReadAll(r.Body); r.StatusCode != http.StatusPartialContent || string(body) != "TDIFFCK" {
		t.Errorf("range: %d %q", r.StatusCode, body)
	}
}

func TestRefusals(t *testing.T) {
	h := Handler(site(t))
	for _, p := range []string{"/missing.js", "/.git/config", "/site/nested/", "/../../etc/passwd"} {
		if r := get(t, h, p); r.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", p, r.StatusCode)
		}
	}
	if r := get(t, h, "/site"); r.StatusCode != http.StatusMovedPermanently {
		t.Errorf("/site: status %d, want a redirect to /site/", r.StatusCode)
	}
	req := httptest.NewRequest("POST", "/index.html", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", rec.Code)
	}
}
