// Command sharemem writes a copy of a Go wasm binary whose memory is shared, so that the
// SIMD kernel's helper threads can work on it (wasm/simd.ShareMemory):
//
//	go run ./build/sharemem IN.wasm OUT.wasm
//
// build/site.sh ships both binaries; the page takes the shared one when it is cross-origin
// isolated. wasm/simd/testdata/node_exec.sh runs the wasm tests on it.
package main

import (
	"fmt"
	"os"

	"github.com/austen-diffusion/textdiffusion/wasm/simd"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sharemem IN.wasm OUT.wasm")
		os.Exit(2)
	}
	in, err := os.ReadFile(os.Args[1])
	if err == nil {
		var out []byte
		if out, err = simd.ShareMemory(in); err == nil {
			err = os.WriteFile(os.Args[2], out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sharemem: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
