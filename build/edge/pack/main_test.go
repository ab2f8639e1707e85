package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/wasm/edge/api"
)

func TestHeaders(t *testing.T) {
	h := Headers([]string{"/index.html", "/site/app.js", "/site/tdiff.0123456789abcdef.wasm", "/site/m.q8_0.0123456789abcdef.ckpt"})
	rules := map[string][]string{}
	var cur string
	for _, l := range strings.Split(h, "\n") {
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "  "):
			rules[cur] = append(rules[cur], strings.TrimSpace(l))
		default:
			cur = l
		}
	}
	for path, want := range map[string]string{
		"/":                                  "Cache-Control: no-cache",
		"/index.html":                        "Cache-Control: no-cache",
		"/site/app.js":                       "Cache-Control: no-cache",
		"/site/tdiff.0123456789abcdef.wasm":  "Cache-Control: public, max-age=31536000, immutable",
		"/site/m.q8_0.0123456789abcdef.ckpt": "Cache-Control: public, max-age=31536000, immutable",
	} {
		if len(rules[path]) == 0 || rules[path][0] != want {
			t.Errorf("%s: %v, want %q", path, rules[path], want)
		}
	}
	if got := rules["/site/m.q8_0.0123456789abcdef.ckpt"]; len(got) != 2 || got[1] != "Content-Type: application/octet-stream" {
		t.Errorf("weights: %v", got)
	}
	// Cache-Control must come from one rule per path: only /* may match everything.
	// It sends CORS and cross-origin isolation, which the engine's threads need.
	if got := rules["/*"]; !slices.Equal(got, []string{"Access-Control-Allow-Origin: *", "Cross-Origin-Resource-Policy: cross-origin",
		"Cross-Origin-Opener-Policy: same-origin", "Cross-Origin-Embedder-Policy: require-corp"}) {
		t.Errorf("/*: %v", got)
	}
	if n := strings.Count(h, "\n/"); n > MaxRules {
		t.Errorf("%d rules, Cloudflare reads %d", n, MaxRules)
	}
}

// TestPack lays out a site with a tiny model, and refuses an asset over the limit and a
// bundle over its gzipped limit.
func TestPack(t *testing.T) {
	dir := t.TempDir()
	site, out := filepath.Join(dir, "site"), filepath.Join(dir, "out")
	cfg := model.Config{Vocab: 8, Dim: 32, Layers: 1, Heads: 2, Hidden: 32, SeqLen: 8, RopeTheta: 10000, NormEps: 1e-5}
	m, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := checkpoint.Encode(&buf, m.ToFile(nil)); err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(dir, "tiny.ckpt")
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(weights, buf.String())
	write(filepath.Join(site, "index.html"), "<html>")
	write(filepath.Join(site, "site", "assets.json"), `{"weights":{"name":"tiny"}}`)
	write(filepath.Join(site, "site", "tdiff.0123456789abcdef.wasm.gz"), "left out")
	write(filepath.Join(out, "worker", "app.wasm"), strings.Repeat("x", 1000))
	built := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

	if _, err := Pack(site, out, []string{weights}, int64(buf.Len()-1), FreeGzip, built); err == nil || !strings.Contains(err.Error(), "over Cloudflare's") {
		t.Errorf("an asset over the limit: %v", err)
	}
	if _, err := Pack(site, out, []string{weights}, MaxAsset, 10, built); err == nil || !strings.Contains(err.Error(), "gzipped, over the limit") {
		t.Errorf("a bundle over the limit: %v", err)
	}
	rep, err := Pack(site, out, []string{weights}, MaxAsset, FreeGzip, built)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "assets", "site", "models.json"))
	if err != nil {
		t.Fatal(err)
	}
	man, err := api.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := man.Find("")
	if md.Name != "tiny" || md.Paradigm != "masked-diffusion" || md.Bytes != int64(buf.Len()) || !strings.HasPrefix(md.File, "/site/tiny."+md.SHA256[:16]) || !man.Built.Equal(built) {
		t.Errorf("manifest: %+v", man)
	}
	for _, p := range []string{"assets/_headers", "assets/index.html", "assets" + md.File, "worker/simd.wasm"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "assets/site/tdiff.0123456789abcdef.wasm.gz")); err == nil {
		t.Error("a .gz copy was packed")
	}
	if !strings.Contains(rep, "gzipped") {
		t.Errorf("report: %s", rep)
	}
}
