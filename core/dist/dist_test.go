package dist

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/dist/disttest"
)

func TestSingle(t *testing.T) {
	c, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	buf := []float32{1, 2}
	c.AllReduceSum(buf)
	if c.Rank() != 0 || c.Size() != 1 || buf[0] != 1 || buf[1] != 2 {
		t.Fatalf("single: rank %d size %d buf %v", c.Rank(), c.Size(), buf)
	}
	if !Any(c, true) || Any(c, false) {
		t.Fatal("Any on one process is not the flag itself")
	}
	want := errors.New("no file")
	if _, err := BroadcastBytes(c, 0, nil, want); err != want {
		t.Fatalf("BroadcastBytes lost root's error: %v", err)
	}
	if _, err := Open("gloo"); err == nil {
		t.Fatal("an unknown -dist kind was accepted")
	}
}

// TestMissingLibrary: -dist mpi without Open MPI says what to install.
func TestMissingLibrary(t *testing.T) {
	_, err := openMPI([]string{"libmpi-not-installed.so.40"})
	if err == nil || !strings.Contains(err.Error(), "apt-get install openmpi-bin libopenmpi3") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q is not one line saying what to install", err)
	}
}

// TestOpenMPI runs this test binary as 3 ranks, each running TestRank.
func TestOpenMPI(t *testing.T) {
	mpirun := disttest.MPIRun(t)
	args := append(append([]string{}, disttest.Args...), "-np", "3", os.Args[0], "-test.run", "^TestRank$", "-test.v")
	cmd := exec.Command(mpirun, args...)
	cmd.Env = append(os.Environ(), "TDIFF_DIST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "--- PASS: TestRank"); n != 3 {
		t.Fatalf("%d of 3 ranks passed:\n%s", n, out)
	}
}

// TestRank is one rank of TestOpenMPI (skipped when run directly).
func TestRank(t *testing.T) {
	if os.Getenv("TDIFF_DIST_CHILD") == "" {
		t.Skip("runs under mpirun from TestOpenMPI")
	}
	c, err := Open("mpi")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, n := c.Rank(), c.Size()
	if n != 3 {
		t.Fatalf("size %d, want 3", n)
	}
	buf := []float32{float32(r), 1, float32(r * r)}
	c.AllReduceSum(buf)
	if buf[0] != 3 || buf[1] != 3 || buf[2] != 5 {
		t.Errorf("rank %d: all-reduce gave %v, want [3 3 5]", r, buf)
	}
	b64 := []float64{0.5 * float64(r)}
	c.AllReduceSum64(b64)
	if b64[0] != 1.5 {
		t.Errorf("rank %d: all-reduce float64 gave %v, want 1.5", r, b64[0])
	}
	var msg []byte
	if r == 1 {
		msg = []byte("from rank one")
	}
	got, err := BroadcastBytes(c, 1, msg, nil)
	if err != nil || string(got) != "from rank one" {
		t.Errorf("rank %d: broadcast gave %q, %v", r, got, err)
	}
	var rootErr error
	if r == 0 {
		rootErr = errors.New("cannot read")
	}
	if _, err := BroadcastBytes(c, 0, nil, rootErr); err == nil {
		t.Errorf("rank %d: root's failure was not reported", r)
	}
	if Any(c, r == 2) != true || Any(c, false) != false {
		t.Errorf("rank %d: Any disagrees", r)
	}
	c.Barrier()
}
