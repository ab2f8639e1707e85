package core_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// vocabulary is every name of a sampler setting (core/sample/vocab.go).
func vocabulary() []string {
	var names []string
	for _, list := range [][]sample.Choice{sample.Strategies, sample.Grids, sample.Confidences} {
		for _, c := range list {
			names = append(names, c.Name)
		}
	}
	return names
}

// TestVocabularyInOnePlace fails when a sampler name is written a second time in the code
// that reads it: a Go string literal that is a name, or holds one that is not an ordinary
// word (low-confidence, semi-ar), outside core/sample/vocab.go; or the names anywhere in
// the page's JS and HTML, which build their menus from the engine (core/engine.Choices).
// Comments and tests may name them.
func TestVocabularyInOnePlace(t *testing.T) {
	names := vocabulary()
	var coined []string // names no English text would hold by chance
	for _, n := range names {
		if strings.ContainsAny(n, "-_") {
			coined = append(coined, n)
		}
	}
	if len(coined) == 0 || len(names) < 9 {
		t.Fatalf("vocabulary %v: the test no longer sees the names", names)
	}
	fset := token.NewFileSet()
	goFiles := 0
	for _, dir := range []string{"sample", "quality", "infill", "cmd/sample", "cmd/quality", "../wasm", "engine"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, path := range paths {
			if strings.HasSuffix(path, "_test.go") || path == filepath.Join("sample", "vocab.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			goFiles++
			flagNames := map[*ast.BasicLit]bool{} // -threshold is a flag, not the strategy
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr: // fl.Float64Var(&f.threshold, "threshold", ...)
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && strings.HasSuffix(sel.Sel.Name, "Var") && len(n.Args) > 1 {
						if lit, ok := n.Args[1].(*ast.BasicLit); ok {
							flagNames[lit] = true
						}
					}
				case *ast.IndexExpr: // f.set["threshold"]
					if lit, ok := n.Index.(*ast.BasicLit); ok {
						flagNames[lit] = true
					}
				}
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || flagNames[lit] {
					return true
				}
				s, _ := strconv.Unquote(lit.Value)
				for _, name := range names {
					if s == name {
						t.Errorf("%s: %q is a sampler name: use core/sample's constant or lists", fset.Position(lit.Pos()), s)
					}
				}
				for _, name := range coined {
					if s != name && strings.Contains(s, name) {
						t.Errorf("%s: %q holds the sampler name %q: build it from core/sample", fset.Position(lit.Pos()), s, name)
					}
				}
				return true
			})
		}
	}
	if goFiles < 15 {
		t.Fatalf("checked only %d Go files: is the test running in core/?", goFiles)
	}
	page, _ := filepath.Glob("../site/*")
	page = append(page, "../index.html")
	webFiles := 0
	for _, path := range page {
		if ext := filepath.Ext(path); ext != ".js" && ext != ".html" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		webFiles++
		for _, name := range names {
			// A name as a word of its own: "random" in "randomly" or "prob" in "problem"
			// is not one.
			re := regexp.MustCompile(`(^|[^A-Za-z0-9_-])` + regexp.QuoteMeta(name) + `($|[^A-Za-z0-9_-])`)
			if loc := re.FindIndex(b); loc != nil && !ordinaryWord(name) {
				t.Errorf("%s: byte %d: the sampler name %q: the page takes its names from the engine", path, loc[0], name)
			}
			quoted := regexp.MustCompile(`["'` + "`" + `]` + regexp.QuoteMeta(name) + `["'` + "`" + `]`)
			if loc := quoted.FindIndex(b); loc != nil {
				t.Errorf("%s: byte %d: the sampler name %q as a literal: the page takes its names from the engine", path, loc[0], name)
			}
		}
	}
	if webFiles < 6 {
		t.Fatalf("checked only %d page files", webFiles)
	}
}

// ordinaryWord reports whether a sampler name is also an English word that page prose may
// use ("random", "threshold", "margin"): only its quoted form is a literal then.
func ordinaryWord(name string) bool {
	switch name {
	case "random", "threshold", "linear", "margin", "entropy":
		return true
	}
	return false
}
