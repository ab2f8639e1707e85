package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
)

// fixture writes a tiny random model (causal or not) and a text file to score.
func fixture(t *testing.T, causal bool) (modelPath, dataPath string) {
	t.Helper()
	dir := t.TempDir()
	modelPath = clitest.Model(t, dir, "m.ckpt", causal, clitest.Tokenizer(t, clitest.Text), 16)
	dataPath = filepath.Join(dir, "val.txt")
	if err := os.WriteFile(dataPath, []byte(clitest.Text), 0o644); err != nil {
		t.Fatal(err)
	}
	return modelPath, dataPath
}

func evalJSON(t *testing.T, args ...string) Result {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the token cache goes here
	var o, e bytes.Buffer
	if err := run(append(args, "-json", "-threads", "1"), &o, &e); err != nil {
		t.Fatalf("eval %v: %v\n%s", args, err, e.String())
	}
	lines := strings.Split(strings.TrimSpace(o.String()), "\n")
	var r Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line is not a Result: %v\n%s", err, o.String())
	}
	return r
}

// TestLevels: the -levels bins hold every draw once, and their draw-weighted mean is the
// bound itself (every window has the same number of draws).
func TestLevels(t *testing.T) {
	mp, dp := fixture(t, false)
	const draws, bins = 8, 4
	r := evalJSON(t, "-model", mp, "-data", dp, "-draws", "8", "-levels", "4")
	if r.Kind != "mdm" || r.Windows == 0 || r.Tokens != 16*r.Windows || len(r.Levels) != bins {
		t.Fatalf("unexpected result %+v", r)
	}
	var n int
	var sum float64
	for k, lv := range r.Levels {
		if lv.From != float64(k)/bins || lv.To != float64(k+1)/bins {
			t.Errorf("bin %d spans (%v, %v]", k, lv.From, lv.To)
		}
		n += lv.Draws
		sum += lv.NLL * float64(lv.Draws)
	}
	if n != draws*r.Windows {
		t.Fatalf("bins hold %d draws, want %d", n, draws*r.Windows)
	}
	if math.Abs(sum/float64(n)-r.NLL) > 1e-9 {
		t.Fatalf("draw-weighted mean of the bins %.12f, bound %.12f", sum/float64(n), r.NLL)
	}
	if plain := evalJSON(t, "-model", mp, "-data", dp, "-draws", "8"); plain.NLL != r.NLL || plain.Levels != nil {
		t.Fatalf("-levels changed the bound (%v vs %v) or levels appear without it", plain.NLL, r.NLL)
	}
}

// TestAR: an AR model's NLL is exact (zero stderr) on the same windows.
func TestAR(t *testing.T) {
	mp, dp := fixture(t, true)
	r := evalJSON(t, "-model", mp, "-data", dp)
	if r.Kind != "ar" || r.Stderr != 0 || r.NLL <= 0 || r.Tokens != 16*r.Windows {
		t.Fatalf("unexpected result %+v", r)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-levels", "-1"}, {"-draws", "1"}, {"extra"}} {
		var o, e bytes.Buffer
		if err := run(args, &o, &e); err == nil {
			t.Errorf("eval %v: no error", args)
		}
	}
}

// A continuous model reports its decoder's accuracy and its denoiser's MSE at each time,
// accuracies in [0, 1] and errors positive.
func TestContinuous(t *testing.T) {
	_, data := fixture(t, false)
	dir := t.TempDir()
	path := clitest.Continuous(t, dir, "c.ckpt", clitest.Tokenizer(t, clitest.Text), 16)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var o, e bytes.Buffer
	if err := run([]string{"-model", path, "-data", data, "-json", "-threads", "1"}, &o, &e); err != nil {
		t.Fatalf("%v\n%s", err, e.String())
	}
	lines := strings.Split(strings.TrimSpace(o.String()), "\n")
	var r ContinuousResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatal(err)
	}
	if r.Kind != "continuous" || len(r.DecoderAcc) != len(decoderTimes) || len(r.DenoiserMSE) != len(denoiserTimes) || r.Schedule != "tan-9" {
		t.Fatalf("result %+v", r)
	}
	for k, a := range r.DecoderAcc {
		if a < 0 || a > 1 {
			t.Errorf("accuracy at %s: %g", k, a)
		}
	}
	for k, m := range r.DenoiserMSE {
		if !(m > 0) {
			t.Errorf("MSE at %s: %g", k, m)
		}
	}
}
