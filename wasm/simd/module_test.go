//go:build !js

package simd

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestLEB(t *testing.T) {
	for _, tc := range []struct {
		v    int32
		want []byte
	}{{0, []byte{0}}, {63, []byte{63}}, {64, []byte{0xc0, 0}}, {-1, []byte{0x7f}}, {-64, []byte{0x40}}, {-65, []byte{0xbf, 0x7f}}, {624485, []byte{0xe5, 0x8e, 0x26}}} {
		if got := (&asm{}).sleb(tc.v).b; string(got) != string(tc.want) {
			t.Errorf("sleb(%d) = %x, want %x", tc.v, got, tc.want)
		}
	}
	if got := (&asm{}).uleb(624485).b; string(got) != "\xe5\x8e\x26" {
		t.Errorf("uleb(624485) = %x", got)
	}
}

// TestKernelInNode runs both flavours of the module in Node (when installed) on many
// shapes against a float64 reference: results within rounding, nothing written outside C.
func TestKernelInNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the kernel is checked in the browser only (build/e2e)")
	}
	for _, fused := range []bool{false, true} {
		wasm := filepath.Join(t.TempDir(), "kernel.wasm")
		if err := os.WriteFile(wasm, Module(fused), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(node, "testdata/check.mjs", wasm, strconv.Itoa(Cols)).CombinedOutput()
		if err != nil {
			t.Fatalf("fused=%v: node: %v\n%s", fused, err, out)
		}
		var r struct {
			OK       bool    `json:"ok"`
			Cases    int     `json:"cases"`
			Worst    float64 `json:"worstRelToTol"`
			GFLOPS   float64 `json:"gflops"`
			GFLOPSNN float64 `json:"gflopsNN"`
		}
		if err := json.Unmarshal(out, &r); err != nil || !r.OK || r.Cases < 100 {
			t.Fatalf("fused=%v: report %s (%v)", fused, out, err)
		}
		t.Logf("fused=%v: %d cases agree (worst error %.2g of the tolerance); packed (128,256)x(768,256)^T at %.1f GFLOP/s, (128,128)x(128,64) at %.1f, in Node",
			fused, r.Cases, r.Worst, r.GFLOPS, r.GFLOPSNN)
	}
}
