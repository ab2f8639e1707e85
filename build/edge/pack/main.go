// Command pack lays out the edge worker's static assets and checks its bundle
// (build/edge/build.sh runs it):
//
//	go run ./build/edge/pack -site build/out/site -out build/out/edge weights/a.q8_0.ckpt ...
//
// Into OUT/assets it copies the built site (build/site.sh, its precompressed .gz copies
// left out: Cloudflare compresses by itself) and each release file under a content-hashed
// name, /site/<name>.<16 hex of its SHA-256>.ckpt, and writes /site/models.json (the
// manifest of wasm/edge/api) and _headers: immutable year-long caching for the
// content-hashed files, revalidation (no-cache) for everything else, HTML included. Every
// asset must be at most 25 MiB, Cloudflare's limit per asset; a larger one is refused
// with the way out (a Q8_0 or Q4_0 release instead of f32). It writes the SIMD kernel to
// OUT/worker/simd.wasm, then measures OUT/worker (the script bundle) raw and gzipped and
// fails past -max-gzip, the plan's limit.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/austen-diffusion/textdiffusion/build/serve/static"
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/wasm/edge/api"
	"github.com/austen-diffusion/textdiffusion/wasm/simd"
)

// Limits of Cloudflare Workers (developers.cloudflare.com/workers/platform/limits).
const (
	MaxAsset    = 25 << 20 // bytes per static asset
	FreeGzip    = 3 << 20  // worker script, gzipped: free plan
	PaidGzip    = 10 << 20 // and paid plan
	MaxRules    = 100      // lines of rules in _headers
	immutable   = static.Immutable
	revalidated = "no-cache"
)

func main() {
	site := flag.String("site", "build/out/site", "the built site (build/site.sh)")
	out := flag.String("out", "build/out/edge", "output folder: assets/ and worker/ (worker/ must hold the built script)")
	maxGzip := flag.Int64("max-gzip", FreeGzip, "fail when the worker's files pass this many bytes gzipped (free plan 3 MiB; paid 10 MiB)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: pack [-site DIR] [-out DIR] [-max-gzip N] release.ckpt...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	rep, err := Pack(*site, *out, flag.Args(), MaxAsset, *maxGzip, time.Now().UTC().Truncate(time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pack:", err)
		os.Exit(1)
	}
	fmt.Print(rep)
}

// Pack does the work of the command; maxAsset is a parameter for the tests. It returns
// the report to print.
func Pack(site, out string, weights []string, maxAsset, maxGzip int64, built time.Time) (string, error) {
	assets := filepath.Join(out, "assets")
	if err := os.RemoveAll(assets); err != nil {
		return "", err
	}
	var files []string // asset paths, "/site/x.js"
	err := filepath.WalkDir(site, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".gz") {
			return err
		}
		rel, _ := filepath.Rel(site, p)
		files = append(files, "/"+filepath.ToSlash(rel))
		return copyFile(filepath.Join(assets, rel), p)
	})
	if err != nil {
		return "", fmt.Errorf("copying the site: %w (build it first: build/site.sh)", err)
	}
	var page struct {
		Weights struct{ Name string } `json:"weights"`
	}
	if b, err := os.ReadFile(filepath.Join(site, "site", "assets.json")); err != nil {
		return "", fmt.Errorf("the site has no site/assets.json: %w", err)
	} else if err := json.Unmarshal(b, &page); err != nil {
		return "", fmt.Errorf("site/assets.json: %w", err)
	}
	man := api.Manifest{Built: built, Default: page.Weights.Name}
	for _, w := range weights {
		md, err := release(w, maxAsset)
		if err != nil {
			return "", err
		}
		if err := copyFile(filepath.Join(assets, filepath.FromSlash(md.File)), w); err != nil {
			return "", err
		}
		if !slices.Contains(files, md.File) {
			files = append(files, md.File)
		}
		man.Models = append(man.Models, md)
	}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return "", err
	}
	if _, err := api.ParseManifest(b); err != nil {
		return "", fmt.Errorf("%w (the site's weights must be among the release files given)", err)
	}
	if err := os.WriteFile(filepath.Join(assets, filepath.FromSlash(api.ManifestPath)), b, 0o644); err != nil {
		return "", err
	}
	files = append(files, api.ManifestPath)
	var rep strings.Builder
	for _, f := range files {
		st, err := os.Stat(filepath.Join(assets, filepath.FromSlash(f)))
		if err != nil {
			return "", err
		}
		if st.Size() > maxAsset {
			return "", fmt.Errorf("asset %s is %d bytes, over Cloudflare's %d per static asset", f, st.Size(), maxAsset)
		}
	}
	headers := Headers(files)
	if err := os.WriteFile(filepath.Join(assets, "_headers"), []byte(headers), 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(&rep, "pack: %d assets in %s, %d models; _headers with %d rules\n", len(files), assets, len(man.Models), strings.Count(headers, "\n/"))

	worker := filepath.Join(out, "worker")
	if err := os.WriteFile(filepath.Join(worker, "simd.wasm"), simd.Module(false), 0o644); err != nil {
		return "", fmt.Errorf("writing the SIMD kernel: %w (build the worker first)", err)
	}
	raw, gz, err := bundleSize(worker)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&rep, "pack: worker bundle %s: %d bytes raw, %d gzipped (limit %d gzipped; free plan %d, paid %d)\n", worker, raw, gz, maxGzip, FreeGzip, PaidGzip)
	if gz > maxGzip {
		return rep.String(), fmt.Errorf("the worker bundle is %d bytes gzipped, over the limit of %d", gz, maxGzip)
	}
	return rep.String(), nil
}

// release reads a release file's manifest and checks its size; the model's asset path
// carries the first 16 hex digits of the file's SHA-256.
func release(file string, maxAsset int64) (api.Model, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return api.Model{}, err
	}
	if int64(len(data)) > maxAsset {
		return api.Model{}, fmt.Errorf("%s is %d bytes, over Cloudflare's %d per static asset: ship its Q8_0 or Q4_0 release (go run ./core/cmd/quantize) instead", file, len(data), maxAsset)
	}
	m, err := checkpoint.ReadManifest(data)
	if err != nil {
		return api.Model{}, fmt.Errorf("%s: %w", file, err)
	}
	var cfg model.Config
	if err := json.Unmarshal(m.Config, &cfg); err != nil {
		return api.Model{}, fmt.Errorf("%s: model config: %w", file, err)
	}
	if err := cfg.Validate(); err != nil {
		return api.Model{}, fmt.Errorf("%s: %w", file, err)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	name := strings.TrimSuffix(filepath.Base(file), ".ckpt")
	return api.Model{
		Name: name, Paradigm: api.Paradigm(cfg), File: "/site/" + name + "." + sha[:16] + ".ckpt",
		Bytes: int64(len(data)), SHA256: sha, DType: mainDType(m), Params: cfg.NumParams(), Config: cfg,
	}, nil
}

// mainDType is the dtype holding most of the file's tensor bytes.
func mainDType(m *checkpoint.Manifest) string {
	bytes := map[checkpoint.DType]int64{}
	for _, t := range m.Tensors {
		bytes[t.DType] += t.Size
	}
	best, most := checkpoint.F32, int64(-1)
	for dt, n := range bytes {
		if n > most || n == most && dt < best {
			best, most = dt, n
		}
	}
	return best.String()
}

// Headers is the _headers file for the given asset paths: one rule per file (Cloudflare
// joins the values of every rule that matches, so Cache-Control must come from exactly
// one), "/" as index.html, CORS and CORP for every path so that other sites can embed the
// widget, and cross-origin isolation (COOP, COEP), which gives the page the shared memory
// the engine's helper threads need (build/serve sends the same).
func Headers(files []string) string {
	var b strings.Builder
	b.WriteString("# Written by build/edge/pack. Content-hashed files never change under their name.\n")
	b.WriteString("/*\n  Access-Control-Allow-Origin: *\n  Cross-Origin-Resource-Policy: cross-origin\n" +
		"  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n")
	rule := func(p, cc string) { fmt.Fprintf(&b, "%s\n  Cache-Control: %s\n", p, cc) }
	for _, f := range slices.Sorted(slices.Values(files)) {
		switch {
		case static.Hashed.MatchString(path.Base(f)):
			rule(f, immutable)
			if path.Ext(f) == ".ckpt" { // a type Cloudflare's asset server does not know
				b.WriteString("  Content-Type: application/octet-stream\n")
			}
		case f == "/index.html":
			rule("/", revalidated)
			rule(f, revalidated)
		default:
			rule(f, revalidated)
		}
	}
	return b.String()
}

// bundleSize is the total size of the files in dir, raw and gzipped one by one.
func bundleSize(dir string) (raw, gz int64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return 0, 0, err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		raw += int64(len(b))
		gz += int64(buf.Len())
	}
	if raw == 0 {
		return 0, 0, errors.New("the worker folder is empty: build the worker first")
	}
	return raw, gz, nil
}

func copyFile(dst, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
