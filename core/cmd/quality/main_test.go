package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

const trainText = clitest.Text

const valText = `Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy
disposition, seemed to unite some of the best blessings of existence; and had lived nearly
twenty-one years in the world with very little to distress or vex her.`

// fixture writes a tiny masked diffusion model, a tiny causal judge (same tokenizer), a
// judge with another tokenizer, and the training and reference text files.
type fixture struct {
	dir, mdm, ar, otherAR, train, val string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // token caches go to a temporary folder
	dir := t.TempDir()
	tok, other := clitest.Tokenizer(t, trainText), clitest.Tokenizer(t, valText)
	save := func(name string, causal bool, tok *tokenizer.Tokenizer) string {
		return clitest.Model(t, dir, name, causal, tok, 32)
	}
	f := fixture{dir: dir, mdm: save("mdm.ckpt", false, tok), ar: save("ar.ckpt", true, tok), otherAR: save("other.ckpt", true, other),
		train: filepath.Join(dir, "train.txt"), val: filepath.Join(dir, "val.txt")}
	for p, s := range map[string]string{f.train: trainText, f.val: valText} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f fixture) args(extra ...string) []string {
	return append([]string{"-model", f.mdm, "-judge", f.ar, "-train", f.train, "-val", f.val, "-n", "8", "-samples", "2",
		"-steps", "2,4", "-strategies", "random,threshold", "-grids", "cosine,linear", "-ref-windows", "0",
		"-out-md", filepath.Join(f.dir, "q.md"), "-out-png", filepath.Join(f.dir, "q.png"), "-out-samples", filepath.Join(f.dir, "s.txt")}, extra...)
}

func TestQualityRun(t *testing.T) {
	f := newFixture(t)
	var stdout, stderr bytes.Buffer
	if err := run(f.args("-json", "-threshold", "0.9,0.5"), &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stderr.String(), "blas: ") {
		t.Errorf("stderr %q", stderr.String())
	}
	var out struct {
		Rows []struct {
			Name        string  `json:"name"`
			Strategy    string  `json:"strategy"`
			JudgePPL    float64 `json:"judge_ppl"`
			NFEPerToken float64 `json:"nfe_per_token"`
			Samples     int     `json:"samples"`
			Tokens      int     `json:"tokens"`
			Reference   bool    `json:"reference"`
		} `json:"rows"`
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		t.Fatalf("last line not JSON: %v\n%s", err, stdout.String())
	}
	// The reference, 3 strategies (random, threshold at two taus) x 2 grids x 2 step
	// counts, the AR row.
	if len(out.Rows) != 1+12+1 {
		t.Fatalf("%d rows, want 14", len(out.Rows))
	}
	if r := out.Rows[0]; !r.Reference || r.Samples < 1 || !(r.JudgePPL > 1) {
		t.Errorf("reference row %+v", r)
	}
	for _, r := range out.Rows[1:] {
		if r.Samples != 2 || r.Tokens != 16 || !(r.JudgePPL > 1) || !(r.NFEPerToken > 0) {
			t.Errorf("row %+v", r)
		}
		if r.Strategy == "ar" && r.NFEPerToken != 1 {
			t.Errorf("AR row: %v calls per token, want 1", r.NFEPerToken)
		}
		if r.Strategy != "ar" && r.NFEPerToken > 4.0/8 {
			t.Errorf("%s: %v calls per token, at most 4 steps for 8 tokens", r.Name, r.NFEPerToken)
		}
	}
	md, err := os.ReadFile(filepath.Join(f.dir, "q.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| **reference (real text)** |", "| random/cosine/2 |", "| threshold(0.9)/linear/4 |", "| threshold(0.5)/cosine/2 |", "| ar (left to right) |"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	img, err := os.Open(filepath.Join(f.dir, "q.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if _, err := png.Decode(img); err != nil {
		t.Errorf("plot: %v", err)
	}
	if s, err := os.ReadFile(filepath.Join(f.dir, "s.txt")); err != nil || !bytes.Contains(s, []byte("== threshold(0.9)/cosine/2")) {
		t.Errorf("samples file: %v\n%s", err, s)
	}
}

func TestQualityErrors(t *testing.T) {
	f := newFixture(t)
	missing := filepath.Join(f.dir, "missing.ckpt")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing judge", f.args("-judge", missing), missing},
		{"missing model", f.args("-model", missing), missing},
		{"bidirectional judge", f.args("-judge", f.mdm), f.mdm},
		{"causal model", f.args("-model", f.ar), f.ar},
		{"other tokenizer", f.args("-judge", f.otherAR), "tokenizer"},
		{"bad strategy", f.args("-strategies", "sideways"), "sideways"},
		{"bad grid", f.args("-grids", "square"), "square"},
		{"bad steps", f.args("-steps", "4,x"), "x"},
		{"bad threshold", f.args("-threshold", "0.9,high"), "high"},
		{"bad samples", f.args("-samples", "0"), "-samples"},
		{"unknown flag", []string{"-bogus"}, "-bogus"},
	} {
		err := run(c.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

// Samples longer than the models' 32 positions are written chunk by chunk and judged window
// by window.
func TestQualityLongSamples(t *testing.T) {
	f := newFixture(t)
	args := append(f.args("-json"), "-n", "40", "-steps", "20")
	var stdout, stderr bytes.Buffer
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var out struct {
		Rows []struct {
			Name   string `json:"name"`
			Tokens int    `json:"tokens"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Rows) < 2 {
		t.Fatalf("rows %+v", out.Rows)
	}
	for _, r := range out.Rows[1:] { // the reference's windows are of -n tokens too, but as many as the text holds
		if r.Tokens != 2*40 {
			t.Errorf("row %s scored %d tokens, want 2 samples x 40", r.Name, r.Tokens)
		}
	}
}

// Continuous models join the table as rows per solver and step count, scored by the same
// judge; with -model "" they are the only sampled rows.
func TestQualityContinuousRows(t *testing.T) {
	f := newFixture(t)
	cont := clitest.Continuous(t, f.dir, "cont.ckpt", clitest.Tokenizer(t, trainText), 32)
	var stdout, stderr bytes.Buffer
	args := append(f.args("-json", "-ar=false", "-continuous", cont, "-continuous-steps", "3,5", "-solvers", "sde,ode"), "-model", "")
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var out struct {
		Rows []struct {
			Name, Strategy string
			NFEPerToken    float64 `json:"nfe_per_token"`
			JudgePPL       float64 `json:"judge_ppl"`
		}
	}
	if err := json.Unmarshal(stdout.Bytes()[bytes.LastIndexByte(bytes.TrimRight(stdout.Bytes(), "\n"), '\n')+1:], &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range out.Rows[1:] { // after the reference
		names = append(names, r.Name)
		if r.Strategy != "continuous" || !(r.JudgePPL > 0) {
			t.Errorf("row %+v", r)
		}
	}
	want := "cont.ckpt: continuous/sde/3,cont.ckpt: continuous/sde/5,cont.ckpt: continuous/ode/3,cont.ckpt: continuous/ode/5"
	if strings.Join(names, ",") != want {
		t.Fatalf("rows %v, want %s", names, want)
	}
	if out.Rows[1].NFEPerToken != 3.0/8 {
		t.Errorf("NFE per token %g, want 3 calls / 8 tokens", out.Rows[1].NFEPerToken)
	}
	if err := run(append(f.args("-continuous", f.mdm), "-model", ""), &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "not a continuous") {
		t.Errorf("a masked model as -continuous: %v", err)
	}
}
