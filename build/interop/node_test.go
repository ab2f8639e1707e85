package interop

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// runNode runs `node script args...` from this folder (so the script resolves the npm
// packages in node_modules) and returns its standard output. Without node or the
// packages the test is skipped, unless TDIFF_INTEROP is set (make test-interop), where
// that is a failure: CI must never pass by not running the foreign readers.
func runNode(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	need := os.Getenv("TDIFF_INTEROP") != ""
	missing := func(what string) {
		t.Helper()
		if need {
			t.Fatalf("%s (build/setup.sh installs it)", what)
		}
		t.Skipf("%s; make test-interop runs this test", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("node_modules", ".package-lock.json")); err != nil {
		missing("build/interop/node_modules is not installed (npm ci --ignore-scripts)")
	}
	cmd := exec.Command(node, append([]string{script}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s\nstdout:\n%s", script, err, errb.Bytes(), out.Bytes())
	}
	return out.Bytes()
}
