package main

import (
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
)

// A continuous model file samples through the same command: the prompt is kept, -json
// reports the denoiser calls, infill fills its blanks, and the masked sampler's flags are
// refused with the ones that apply.
func TestContinuousModel(t *testing.T) {
	path := clitest.Continuous(t, t.TempDir(), "cont.ckpt", clitest.Tokenizer(t, text), 32)
	stdout, _, err := runArgs("-model", path, "-json", "-prompt", "It is a truth", "-n", "10", "-steps", "7", "-seed", "3", "-stop-eot=false", "-solver", "ode")
	if err != nil {
		t.Fatal(err)
	}
	obj := lastJSON(t, stdout)
	if obj["sampler"] != "continuous-diffusion" || obj["nfe"] != 7.0 || obj["tokens"] != 10.0 || obj["solver"] != "ode" {
		t.Fatalf("json %v", obj)
	}
	if !strings.HasPrefix(obj["text"].(string), "It is a truth") {
		t.Fatalf("prompt not kept: %q", obj["text"])
	}
	again, _, _ := runArgs("-model", path, "-json", "-prompt", "It is a truth", "-n", "10", "-steps", "7", "-seed", "3", "-stop-eot=false", "-solver", "ode")
	if lastJSON(t, again)["text"] != obj["text"] {
		t.Fatal("the same seed gave another text")
	}
	stdout, _, err = runArgs("-model", path, "-json", "-infill", "It is a ___ universally acknowledged", "-blank-len", "3", "-steps", "4")
	if err != nil {
		t.Fatal(err)
	}
	if fills := lastJSON(t, stdout)["fills"].([]any); len(fills) != 1 {
		t.Fatalf("fills %v", fills)
	}
	for _, bad := range [][]string{{"-strategy", "random"}, {"-temperature", "0.5"}, {"-draft", "self", "-n", "8"}, {"-draft", "frozen", "-solver", "ode", "-n", "8"}, {"-n", "40"}, {"-solver", "rk4"}} {
		_, _, err := runArgs(append([]string{"-model", path}, bad...)...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line", bad, err)
		}
	}
}

// -draft frozen samples a continuous model speculatively: fewer target calls than steps,
// acceptance per step, and whether the chain is exactly the plain one (-selfcond=false).
func TestContinuousSpeculative(t *testing.T) {
	path := clitest.Continuous(t, t.TempDir(), "cont.ckpt", clitest.Tokenizer(t, text), 32)
	for _, sc := range []string{"true", "false"} {
		stdout, _, err := runArgs("-model", path, "-json", "-n", "10", "-steps", "12", "-seed", "3", "-draft", "frozen", "-k", "3", "-selfcond="+sc)
		if err != nil {
			t.Fatal(err)
		}
		obj := lastJSON(t, stdout)
		calls, _ := obj["target_calls"].(float64)
		if obj["draft"] != "frozen" || obj["k"] != 3.0 || !(calls > 0 && calls < 12) || obj["nfe"] != calls || obj["exact"] != (sc == "false") || obj["acceptance_per_step"] == nil {
			t.Fatalf("-selfcond=%s: json %v", sc, obj)
		}
	}
	if _, stderr, err := runArgs("-model", path, "-n", "10", "-steps", "12", "-draft", "frozen"); err != nil || !strings.Contains(stderr, "per step, exact false") {
		t.Errorf("summary %q, %v", stderr, err)
	}
}
