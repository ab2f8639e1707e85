package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

// childEnv holds, in a copy of this test binary, the JSON arguments of a train run to do
// instead of the tests (TestKillDuringSave's child processes).
const childEnv = "TDIFF_TRAIN_CHILD_ARGS"

func TestMain(m *testing.M) {
	if a := os.Getenv(childEnv); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := run(args, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "train:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// temps lists the checkpoint writer's temporary files in out.
func temps(t *testing.T, out string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(out, ".checkpoint.ckpt.tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestKillDuringSave kills a training process with SIGKILL while it writes a checkpoint
// (it saves after every step) twelve times, restarting it with -resume each time: the
// checkpoint stays loadable throughout, and the restarted run removes the temporaries the
// killed ones left, so none is there at the end.
func TestKillDuringSave(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 13 processes")
	}
	dir, data := fixture(t)
	out := filepath.Join(dir, "run")
	first := append(append([]string{"-out", out, "-steps", "1000000", "-eval-tokens", "32"}, tiny...), data...)
	first = append(first, "-checkpoint-every", "1", "-dim", "64", "-hidden", "128") // longer saves
	const kills = 12
	left := 0
	for k := range kills {
		args := first
		if k > 0 {
			args = append([]string{"-resume", "-out", out}, data...)
		}
		before := temps(t, out)
		a, _ := json.Marshal(args)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+string(a))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill as soon as a save of this process is under way (a temporary not seen before)
		// once there is a checkpoint to resume.
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := os.Stat(filepath.Join(out, train.CheckpointFile))
			if err == nil && slices.ContainsFunc(temps(t, out), func(p string) bool { return !slices.Contains(before, p) }) {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("kill %d: no save within 20 s\n%s", k, stderr.Bytes())
			}
			time.Sleep(50 * time.Microsecond)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if n := len(temps(t, out)); n > 0 {
			left++
		}
		if _, err := checkpoint.Load(filepath.Join(out, train.CheckpointFile)); err != nil {
			t.Fatalf("after kill %d the checkpoint does not load: %v", k, err)
		}
	}
	t.Logf("%d of %d kills left a temporary behind", left, kills)
	if left == 0 {
		t.Skip("no kill landed inside a save; the restart's clean-up was not exercised")
	}
	_, step := savedRun(t, out)
	mustRun(t, append([]string{"-resume", "-out", out, "-steps", fmt.Sprint(step + 1)}, data...)...)
	if got := temps(t, out); len(got) > 0 {
		t.Errorf("temporaries left after the restart: %v", got)
	}
}
