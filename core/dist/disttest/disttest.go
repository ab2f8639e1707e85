// Package disttest starts the multi-rank tests: it finds mpirun, or skips the test where
// Open MPI is absent unless TDIFF_MPI is set (make test-mpi), where that is a failure.
package disttest

import (
	"os"
	"os/exec"
	"testing"
)

// EnvVar set to anything makes a missing mpirun fail the test instead of skipping it.
const EnvVar = "TDIFF_MPI"

// Args are mpirun's flags for a test job on loopback: root allowed (CI runs as root),
// more ranks than cores allowed, ranks not bound to cores (the machine is shared), and
// TCP on lo as the only network.
var Args = []string{"--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
	"--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"}

// MPIRun returns the path of mpirun, or skips (or fails, under TDIFF_MPI) t without it.
func MPIRun(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("mpirun")
	if err != nil {
		if os.Getenv(EnvVar) != "" {
			t.Fatalf("%s is set but mpirun is missing (Debian: apt-get install openmpi-bin libopenmpi3): %v", EnvVar, err)
		}
		t.Skipf("mpirun not installed (set %s=1 to make this a failure)", EnvVar)
	}
	return p
}
