package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/corpus"
	"github.com/austen-diffusion/textdiffusion/core/dist/disttest"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

// tinyRun builds the command, writes a small corpus (the first 30 kB of Persuasion for
// training, its last 8 kB for validation) into dir and returns the binary and the flags of
// a tiny run on it (a 300-id tokenizer, d=32, two layers, L=32, batch 8): seconds per run.
func tinyRun(t *testing.T, dir, objective string, steps int) (bin string, args []string) {
	t.Helper()
	bin = filepath.Join(dir, "train")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	book, err := corpus.Validation()
	if err != nil {
		t.Fatal(err)
	}
	trainText, valText := filepath.Join(dir, "train.txt"), filepath.Join(dir, "val.txt")
	if err := os.WriteFile(trainText, book.Text[:30000], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(valText, book.Text[len(book.Text)-8000:], 0o644); err != nil {
		t.Fatal(err)
	}
	args = []string{"-objective", objective, "-data", trainText, "-val", valText, "-tokenizer", filepath.Join(dir, "tok.json"),
		"-vocab", "300", "-dim", "32", "-layers", "2", "-heads", "2", "-hidden", "64", "-seq-len", "32", "-batch", "8",
		"-steps", fmt.Sprint(steps), "-warmup", "2", "-log-every", "1", "-eval-every", "0", "-eval-tokens", "1024",
		"-threads", "1", "-no-progress"}
	return bin, args
}

// job returns the run of bin with args, as one process (np 0) or np ranks of mpirun
// (-dist mpi), each with one thread.
func job(t *testing.T, np int, bin string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if np == 0 {
		cmd = exec.Command(bin, args...)
	} else {
		a := append(append([]string{}, disttest.Args...), "-np", fmt.Sprint(np), "-x", "GOMAXPROCS=1", bin)
		cmd = exec.Command(disttest.MPIRun(t), append(append(a, args...), "-dist", "mpi")...)
	}
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "XDG_CACHE_HOME="+t.TempDir())
	return cmd
}

// runOK runs cmd and returns its output, failing t when it fails.
func runOK(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// losses reads the training loss and gradient norm of every step from a run's metrics.
func losses(t *testing.T, dir string) map[int][2]float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][2]float64{}
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var r train.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if r.Loss != nil {
			out[r.Step] = [2]float64{*r.Loss, r.GradNorm}
		}
	}
	return out
}

// weights returns the parameters in a checkpoint file.
func weights(t *testing.T, path string) []float32 {
	t.Helper()
	f, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return m.Params
}

// maxDiff returns the largest |a-b| and the largest |a|.
func maxDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = max(scale, math.Abs(float64(a[i])))
	}
	return diff, scale
}

// TestMPIEquivalence trains 10 steps of batch 8 in one process and on 2 ranks of batch 4
// each (mpirun on loopback): the losses and weights agree within float32 rounding. They are
// not equal to the bit: one process sums each weight gradient over the 8*32 batch rows in
// one matrix product, two ranks sum 4*32 rows each and then add the two sums (the 1/2 scale
// is exact). Measured: losses and gradient norms within 8e-8 relative, weights within 7e-7
// (AdamW's step is lr*m/sqrt(v): rounding in a gradient near zero moves a weight by up to
// lr, so the weights get the wider margin).
func TestMPIEquivalence(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and starts mpirun")
	}
	disttest.MPIRun(t)
	for _, objective := range []string{"mdm", "ar"} {
		t.Run(objective, func(t *testing.T) {
			dir := t.TempDir()
			bin, args := tinyRun(t, dir, objective, 10)
			one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
			runOK(t, job(t, 0, bin, append(args, "-out", one)...))
			runOK(t, job(t, 2, bin, append(args, "-out", two)...))
			l1, l2 := losses(t, one), losses(t, two)
			if len(l1) != 10 || len(l2) != 10 {
				t.Fatalf("logged %d and %d steps, want 10", len(l1), len(l2))
			}
			worst := 0.0
			for s, a := range l1 {
				// Loss, then the gradient's norm (Adam and clipping hide a wrong scale of
				// the gradient from the weights, not from its norm).
				for i, what := range []string{"loss", "gradient norm"} {
					d := math.Abs(a[i]-l2[s][i]) / a[i]
					worst = max(worst, d)
					if d > lossTol {
						t.Errorf("step %d: %s %.9g on 1 rank, %.9g on 2 (relative %.2g > %g)", s, what, a[i], l2[s][i], d, lossTol)
					}
				}
			}
			w1, w2 := weights(t, filepath.Join(one, train.ModelFile)), weights(t, filepath.Join(two, train.ModelFile))
			d, scale := maxDiff(w1, w2)
			t.Logf("%s: losses and gradient norms within %.2g (relative); %d weights (largest %.3g), max |difference| %.3g", objective, worst, len(w1), scale, d)
			if d > weightTol {
				t.Errorf("weights differ by up to %.3g > %g after 10 steps", d, weightTol)
			}
		})
	}
}

// The tolerances of TestMPIEquivalence.
const (
	lossTol   = 1e-6
	weightTol = 1e-5
)

// TestMPIKillResume kills one rank of a 2-rank job (SIGKILL) after its first checkpoint:
// mpirun must end the job with an error naming the signal (no rank left waiting), and
// -resume from rank 0's checkpoint must end with the very weights of an uninterrupted run
// (the same ranks add the same partial sums in the same order: equal to the bit).
func TestMPIKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and starts mpirun")
	}
	disttest.MPIRun(t)
	const steps = 60
	dir := t.TempDir()
	bin, args := tinyRun(t, dir, "mdm", steps)
	args = append(args, "-checkpoint-every", "10", "-log-every", "10")
	ref := filepath.Join(dir, "ref")
	runOK(t, job(t, 2, bin, append(args, "-out", ref)...))
	want := weights(t, filepath.Join(ref, train.ModelFile))
	for _, victim := range []int{1, 0} {
		t.Run(fmt.Sprintf("rank%d", victim), func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprintf("kill%d", victim))
			log := killAfterCheckpoint(t, job(t, 2, bin, append(args, "-out", out)...), victim, filepath.Join(out, train.CheckpointFile))
			t.Logf("the job's output:\n%s", log)
			if !strings.Contains(log, "exited on signal 9") {
				t.Errorf("mpirun did not say that a rank was killed:\n%s", log)
			}
			tr, err := train.Resume(filepath.Join(out, train.CheckpointFile), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Step >= steps {
				t.Fatalf("the run finished (step %d) before the kill: make it longer", tr.Step)
			}
			log = runOK(t, job(t, 2, bin, append(args, "-out", out, "-resume")...))
			if want := fmt.Sprintf("at step %d of %d", tr.Step, steps); !strings.Contains(log, want) {
				t.Errorf("the resumed job did not say it resumed %s:\n%s", want, log)
			}
			got := weights(t, filepath.Join(out, train.ModelFile))
			if d, _ := maxDiff(want, got); d != 0 {
				t.Errorf("killed at step >= %d and resumed: weights differ from the uninterrupted run's by up to %.3g", tr.Step, d)
			}
		})
	}
}

// killAfterCheckpoint starts the job cmd, SIGKILLs rank victim once ckpt exists and
// returns the job's whole output once mpirun has exited with an error (failing t when it
// exits cleanly or still runs a minute later: a rank left waiting).
func killAfterCheckpoint(t *testing.T, cmd *exec.Cmd, victim int, ckpt string) string {
	t.Helper()
	// Through an io.Pipe, Wait returns only after mpirun's last line was copied; closing
	// the pipe then ends the reader, so no line is lost (StderrPipe gives no such order).
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := make(chan [2]int, 2)
	var log strings.Builder
	read := make(chan struct{})
	go func() { ranks(bufio.NewScanner(pr), pids, &log); close(read) }()
	exited := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); exited <- err }()
	// output waits for the job's end (stopping it after a minute) and returns its output.
	output := func() string {
		select {
		case <-exited:
		case <-time.After(time.Minute):
			cmd.Process.Signal(syscall.SIGTERM) // mpirun ends its ranks on SIGTERM
			<-exited
		}
		<-read
		return log.String()
	}
	pid := 0
	for p := range pids {
		if p[0] == victim {
			pid = p[1]
			break
		}
	}
	if pid == 0 {
		t.Fatalf("rank %d never reported its pid:\n%s", victim, output())
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Signal(syscall.SIGTERM)
			t.Fatalf("no checkpoint after a minute:\n%s", output())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill rank %d (pid %d): %v", victim, pid, err)
	}
	select {
	case err := <-exited:
		<-read
		if err == nil {
			t.Fatalf("mpirun exited cleanly after rank %d was killed:\n%s", victim, log.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Signal(syscall.SIGTERM)
		t.Fatalf("the job still runs a minute after rank %d was killed:\n%s", victim, output())
	}
	return log.String()
}

// ranks reads "dist: rank r of n, pid p" lines from a job's output and sends each rank's
// pid; it logs every line into log.
func ranks(sc *bufio.Scanner, pids chan<- [2]int, log *strings.Builder) {
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		var r, n, pid int
		if _, err := fmt.Sscanf(line, "dist: rank %d of %d, pid %d", &r, &n, &pid); err == nil {
			pids <- [2]int{r, pid}
		}
	}
	close(pids)
}
