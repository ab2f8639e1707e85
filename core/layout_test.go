// Package core_test enforces the import rules of the design: the core never imports the
// browser code (wasm/), only commands (core/cmd/*, build/*) touch flags and os.Exit, and
// everything under core/ and wasm/ builds for GOOS=js GOARCH=wasm.
package core_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/austen-diffusion/textdiffusion"

func TestImportRules(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		checked++
		isCmd := strings.HasPrefix(filepath.ToSlash(path), "cmd/")
		isTest := strings.HasSuffix(path, "_test.go")
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == module+"/wasm" || strings.HasPrefix(p, module+"/wasm/") {
				t.Errorf("core/%s imports %s: the core never imports the browser code", path, p)
			}
			if p == "flag" && !isCmd && !isTest {
				t.Errorf("core/%s imports flag: only commands parse flags", path)
			}
		}
		if !isCmd && !isTest {
			full, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(full, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == "os" && sel.Sel.Name == "Exit" {
						t.Errorf("%s: os.Exit outside a command", fset.Position(sel.Pos()))
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d files: is the test running in core/?", checked)
	}
}

// TestWasmBuild compiles every package of the module for the browser.
func TestWasmBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	cmd := exec.Command("go", "build", "./...")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build ./...: %v\n%s", err, out)
	}
}
