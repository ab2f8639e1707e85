//go:build js && wasm

// Command edge is the Cloudflare Worker (GOOS=js GOARCH=wasm) that serves wasm/edge/api.
// The static site and the weights are Workers static assets, served by Cloudflare before
// the worker runs; the worker reads the manifest and the weights it samples from through
// the ASSETS binding. build/edge/build.sh builds it with its JavaScript entry
// (build/edge/main.mjs), which keeps one Go instance per isolate, so a model is loaded
// once per isolate rather than once per request, and hands in, through the runtime
// context, the SIMD kernel compiled ahead of time (context.simd) and Go's memory
// (context.memory).
//
// Settings (wrangler vars): TDIFF_CPU_MS, the CPU milliseconds a request may use
// (default 30000, the paid plan's default limit; 10 on the free plan refuses all
// sampling).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"runtime/debug"
	"strconv"
	"syscall/js"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/wasm/edge/api"
	"github.com/austen-diffusion/textdiffusion/wasm/simd"
	"github.com/syumai/workers"
)

// memoryLimit is the Go heap's soft limit. The default model needs about 35 MB live
// (29 MB of float32 weights); with this limit the isolate's Go memory stayed at 76 MB
// after build/edge's TestLoad (111 MB without a limit). At 48 MiB it stayed at 63 MB but
// the collector ran on nearly every request (21 ms of CPU for a /healthz, 1.2 ms here).
const memoryLimit = 64 << 20

func main() {
	lg := log.New(os.Stderr, "edge: ", 0)
	// WebAssembly memory only grows, and an isolate has 128 MB in all: collect before the
	// heap passes the limit, rather than at twice the live heap (GOGC's default).
	debug.SetMemoryLimit(memoryLimit)
	_ = blas.Init(0) // pure Go in wasm; never fails without TDIFF_BLAS set
	rc := js.Global().Get("context")
	// build/edge/pack bundles the plain flavour (Module(false)): Workers compile nothing at
	// run time, so the relaxed-SIMD check the page makes cannot be made here.
	if k, err := simd.LoadCompiled(rc.Get("simd"), rc.Get("memory"), false, 1); err == nil {
		blas.Use(k, "wasm-simd")
		nn.UseKernels(k.Kernels())
	} else {
		lg.Printf("CPU products on gonum: %v", err)
	}
	budget := api.Measured
	env := rc.Get("env")
	if v := env.Get("TDIFF_CPU_MS"); v.Type() == js.TypeString {
		ms, err := strconv.ParseFloat(v.String(), 64)
		if err != nil || ms < 0 {
			lg.Printf("TDIFF_CPU_MS=%q is not a number of milliseconds; keeping %g", v.String(), budget.CPUms)
		} else {
			budget.CPUms = ms
		}
	}
	s := &api.Server{Fetch: assets(env), Budget: budget, Log: lg}
	workers.ServeNonBlock(s.Handler())
	workers.Ready()
	select {} // serve every request of this isolate from this one instance
}

// assets reads static assets through env.ASSETS, the static-assets binding. (Calling it
// through syscall/js rather than github.com/syumai/workers/cloudflare/fetch keeps that
// package's KV and R2 bindings out of the bundle.)
func assets(env js.Value) api.Fetch {
	bind := env.Get("ASSETS")
	return func(ctx context.Context, path string) ([]byte, error) {
		if !bind.Truthy() {
			return nil, errors.New("no ASSETS binding (wrangler.jsonc's assets.binding)")
		}
		resp, err := await(bind.Call("fetch", "https://assets.invalid"+path))
		if err != nil {
			return nil, err
		}
		if !resp.Get("ok").Bool() {
			return nil, fmt.Errorf("ASSETS answered %d for %s", resp.Get("status").Int(), path)
		}
		buf, err := await(resp.Call("arrayBuffer"))
		if err != nil {
			return nil, err
		}
		u8 := js.Global().Get("Uint8Array").New(buf)
		b := make([]byte, u8.Length())
		js.CopyBytesToGo(b, u8)
		return b, nil
	}
}

// await blocks the calling goroutine until p settles; other goroutines and the JS event
// loop run meanwhile.
func await(p js.Value) (js.Value, error) {
	type settled struct {
		v   js.Value
		err error
	}
	ch := make(chan settled, 1)
	var then, catch js.Func
	then = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- settled{v: args[0]}
		return nil
	})
	catch = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- settled{err: errors.New(args[0].Call("toString").String())}
		return nil
	})
	defer then.Release()
	defer catch.Release()
	p.Call("then", then, catch)
	r := <-ch
	return r.v, r.err
}
