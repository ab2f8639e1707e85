//go:build js && wasm

// Command ours is our side of the browser benchmark (build/benchbrowser): the CPU path of
// the page (core/model with core/blas and core/nn's kernels on wasm/simd), driven by the
// benchmark page, which hands over Go's memory as globalThis.tdiffMemory (and, for the
// products on several threads, the number as globalThis.tdiffThreads, with this program's
// shared-memory build) and then sets
//
//	tdiffBench.load(bytes Uint8Array, ids Array) string  // "" or what went wrong
//	tdiffBench.forward()                                  // one forward pass over ids
//	tdiffBench.logits(n) Array                            // the first n logits of the last one
//	tdiffBench.kernel                                     // which kernel runs the products
//
// before calling globalThis.tdiffReady.
package main

import (
	"errors"
	"fmt"
	"syscall/js"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/wasm/simd"
)

func main() {
	api := js.Global().Get("Object").New()
	kernel := "gonum (no WebAssembly SIMD)"
	threads := 1
	if n := js.Global().Get("tdiffThreads"); n.Type() == js.TypeNumber {
		threads = n.Int()
	}
	if k, err := simd.LoadThreads(js.Global().Get("tdiffMemory"), threads); err == nil {
		blas.Use(k, "wasm-simd")
		nn.UseKernels(k.Kernels())
		kernel = "wasm-simd (mul+add)"
		if k.Fused {
			kernel = "wasm-simd (relaxed-SIMD FMA)"
		}
		// Here, before tdiffReady, this goroutine may block while the helpers start.
		if got, why := k.WaitThreads(time.Minute); got != threads {
			kernel += fmt.Sprintf(", %d of %d threads: %s", got, threads, why)
		} else if got > 1 {
			kernel += fmt.Sprintf(", %d threads", got)
		}
	} else {
		kernel += ": " + err.Error()
	}
	var (
		m      *model.Model
		ids    []int32
		logits []float32
	)
	api.Set("kernel", kernel)
	api.Set("load", js.FuncOf(func(_ js.Value, args []js.Value) any {
		var err error
		m, ids, err = load(args)
		if err != nil {
			return err.Error()
		}
		return ""
	}))
	api.Set("forward", js.FuncOf(func(js.Value, []js.Value) any {
		if m == nil {
			return "load first"
		}
		var err error
		logits, err = m.Logits(ids)
		if err != nil {
			return err.Error()
		}
		return ""
	}))
	api.Set("logits", js.FuncOf(func(_ js.Value, args []js.Value) any {
		n := min(args[0].Int(), len(logits))
		out := make([]any, n)
		for i := range out {
			out[i] = float64(logits[i])
		}
		return out
	}))
	js.Global().Set("tdiffBench", api)
	js.Global().Call("tdiffReady")
	select {}
}

// load decodes a release file (the page's path: dequantised to float32) and the token ids.
func load(args []js.Value) (*model.Model, []int32, error) {
	if len(args) < 2 || args[0].Get("byteLength").Type() != js.TypeNumber {
		return nil, nil, errors.New("want (Uint8Array of a release file, array of token ids)")
	}
	data := make([]byte, args[0].Get("byteLength").Int())
	js.CopyBytesToGo(data, args[0])
	f, err := checkpoint.Decode(data)
	if err != nil {
		return nil, nil, err
	}
	m, err := model.FromFile(f)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int32, args[1].Length())
	for i := range ids {
		ids[i] = int32(args[1].Index(i).Int())
		if ids[i] < 0 || int(ids[i]) >= m.Cfg.Vocab {
			return nil, nil, fmt.Errorf("token id %d out of the vocabulary", ids[i])
		}
	}
	return m, ids, nil
}
