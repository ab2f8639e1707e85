// Command kernel writes the SIMD kernel module (wasm/simd) in its four flavours for the
// site, each under a content-hashed name, and prints their names as JSON for assets.json:
//
//	go run ./build/kernel DIR
//	{"fused": "kernel-fused.0123456789abcdef.wasm", "plain": ..., "fusedShared": ..., "plainShared": ...}
//
// fused runs on relaxed SIMD's fused multiply-add, plain on f32x4.mul and add for browsers
// that refuse relaxed SIMD; the shared ones import a shared memory (the engine's
// shared-memory build). The page's worker compiles the one it needs as it streams in,
// beside the engine, so the engine neither builds the module at run time nor carries the
// code that builds it (build/site.sh).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/austen-diffusion/textdiffusion/wasm/simd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kernel DIR (writes the kernel modules into DIR, prints their names as JSON)")
		os.Exit(2)
	}
	names := map[string]string{}
	for _, f := range []struct {
		key, name string
		code      []byte
	}{{"fused", "kernel-fused", simd.Module(true)}, {"plain", "kernel-plain", simd.Module(false)},
		{"fusedShared", "kernel-fused-shared", simd.SharedModule(true)}, {"plainShared", "kernel-plain-shared", simd.SharedModule(false)}} {
		sum := sha256.Sum256(f.code)
		name := f.name + "." + hex.EncodeToString(sum[:8]) + ".wasm"
		if err := os.WriteFile(filepath.Join(os.Args[1], name), f.code, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "kernel: %v\n", err)
			os.Exit(1)
		}
		names[f.key] = name
	}
	b, _ := json.Marshal(names)
	fmt.Println(string(b))
}
