//go:build js && wasm

// Command wasm is the browser engine of the demo (GOOS=js GOARCH=wasm), run inside a Web
// Worker (site/worker.js). It sets globalThis.tdiff:
//
//	tdiff.verify(bytes Uint8Array) string                // "" or why the release file is bad
//	tdiff.load(bytes, onPhase(string), checked?, encoder?) Promise<string> // Info as JSON, the CPU ready; checked: the page has
//	                                                     // checked the file's SHA-256, so the engine skips its payload hash;
//	                                                     // encoder: the masked model's file, which a continuous model refers to
//	tdiff.startGPU(onPhase(string), noGPU?) Promise<string> // Info as JSON once the GPU passed or failed its self-test;
//	                                                     // samples meanwhile run on the CPU; noGPU: why to leave it off
//	tdiff.sample(requestJSON, onStep(stepJSON)) Promise<string> // Output as JSON
//	tdiff.cancel()                                       // stop the running sample
//	tdiff.loseGPU()                                      // tests: destroy the GPU device
//
// and then calls globalThis.tdiffReady() if it exists. Load and sample run on goroutines
// because the GPU path waits on JS promises, which must never happen inside a js.FuncOf
// callback.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"syscall/js"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/engine"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/core/quant"
	"github.com/austen-diffusion/textdiffusion/wasm/simd"
)

var (
	mu     sync.Mutex
	eng    *engine.Engine
	cancel context.CancelFunc
	kern   *simd.Impl // the SIMD kernel, nil when gonum does the products
)

func main() {
	// No garbage collection until the first sample has ended or the GPU starts (gcOn):
	// starting the runtime, decoding a release file and a sample allocate a few tens of MB,
	// most of it kept, and on a first visit the browser runs this code from its baseline
	// compiler, where each collection costs tens of ms of the time to the first sample and
	// the collector's own code, made hot, is compiled again on the cores the sample wants.
	debug.SetGCPercent(-1)
	_ = blas.Init(0) // pure Go in wasm; never fails without TDIFF_BLAS set
	// The page hands over Go's own memory (globalThis.tdiffMemory) so that the SIMD kernel
	// can read Go's slices in place, and the kernel's module, compiled; without them, or
	// without SIMD, gonum does the products. On a shared memory (a cross-origin isolated
	// page) the kernel starts helper threads too.
	if k, err := loadKernel(); err == nil {
		kern = k
		blas.Use(k, "wasm-simd")
		nn.UseKernels(k.Kernels())
		quant.UseKernels(k.QuantKernels())
	} else {
		js.Global().Get("console").Call("info", "tdiff: CPU products on gonum: "+err.Error())
	}
	api := js.Global().Get("Object").New()
	api.Set("verify", js.FuncOf(verify))
	api.Set("load", js.FuncOf(load))
	api.Set("startGPU", js.FuncOf(startGPU))
	api.Set("sample", js.FuncOf(sampleJS))
	api.Set("cancel", js.FuncOf(cancelJS))
	api.Set("loseGPU", js.FuncOf(loseGPU))
	js.Global().Set("tdiff", api)
	if ready := js.Global().Get("tdiffReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {}
}

// loadKernel loads the SIMD kernel the page compiled (globalThis.tdiffKernel: {module,
// fused}, or {why} it could not; site/worker.js) on Go's memory, with helper threads on a
// shared memory. The engine leaves building the module to the site (build/kernel).
func loadKernel() (*simd.Impl, error) {
	kernel, mem := js.Global().Get("tdiffKernel"), js.Global().Get("tdiffMemory")
	if !kernel.Truthy() {
		return nil, errors.New("the page compiled no SIMD kernel (globalThis.tdiffKernel)")
	}
	if why := kernel.Get("why"); why.Truthy() {
		return nil, errors.New(why.String())
	}
	return simd.LoadCompiled(kernel.Get("module"), mem, kernel.Get("fused").Truthy(), simd.DefaultThreads(mem))
}

func bytesArg(args []js.Value) ([]byte, error) {
	if len(args) == 0 || args[0].Type() != js.TypeObject || args[0].Get("byteLength").Type() != js.TypeNumber {
		return nil, errors.New("want a Uint8Array of the release file")
	}
	b := make([]byte, args[0].Get("byteLength").Int())
	js.CopyBytesToGo(b, args[0])
	return b, nil
}

func verify(this js.Value, args []js.Value) any {
	b, err := bytesArg(args)
	if err == nil {
		_, err = checkpoint.Verify(b)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// promise runs work on a goroutine and settles a JS Promise with its result.
func promise(work func() (string, error)) js.Value {
	var run js.Func
	run = js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer run.Release()
			s, err := work()
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(s)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(run)
}

// phases returns the engine's progress callback for a JS onPhase argument (or none).
func phases(onPhase js.Value) func(string) {
	return func(p string) {
		if onPhase.Type() == js.TypeFunction {
			onPhase.Invoke(p)
		}
		yield()
	}
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

func load(this js.Value, args []js.Value) any {
	data, err := bytesArg(args)
	progress, checked := phases(arg(args, 1)), arg(args, 2).Truthy()
	// The fourth argument, when given, is the encoder file a continuous model refers to
	// (the masked model's release file).
	var encoder []byte
	if enc := arg(args, 3); enc.Truthy() && err == nil {
		var encErr error
		if encoder, encErr = bytesArg([]js.Value{enc}); encErr != nil {
			err = fmt.Errorf("encoder: %w", encErr)
		}
	}
	return promise(func() (string, error) {
		if err != nil {
			return "", err
		}
		e, err := engine.LoadCPUWithEncoder(data, encoder, checked, progress)
		if err != nil {
			return "", err
		}
		mu.Lock()
		if eng != nil {
			eng.Close()
		}
		eng = e
		mu.Unlock()
		return withThreads(e.InfoJSON())
	})
}

// withThreads adds to an Info's JSON how many threads run the CPU's products
// (cpuThreads) and, when helpers were asked for but are not running, why (cpuThreadsWhy).
// The helpers started with the engine and normally answered long before a model loads.
func withThreads(info string) (string, error) {
	threads, why := 1, ""
	if kern != nil {
		threads, why = kern.WaitThreads(5 * time.Second)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(info), &m); err != nil {
		return "", fmt.Errorf("engine info: %w", err)
	}
	m["cpuThreads"], m["cpuThreadsWhy"] = threads, why
	b, err := json.Marshal(m)
	return string(b), err
}

// gcOn turns garbage collection on (Go's default), once; main turned it off.
var gcOn = sync.OnceFunc(func() { debug.SetGCPercent(100) })

func startGPU(this js.Value, args []js.Value) any {
	gcOn() // the GPU's start allocates its own tens of MB
	progress := phases(arg(args, 0))
	open := openGPU
	if why := arg(args, 1); why.Type() == js.TypeString && why.String() != "" {
		// The page's reason, which the engine reports as its fallback.
		open = func(*checkpoint.File, model.Config) (engine.GPU, error) { return nil, errors.New(why.String()) }
	}
	mu.Lock()
	e := eng
	mu.Unlock()
	if e == nil {
		return promise(func() (string, error) { return "", errors.New("startGPU: no model loaded") })
	}
	done := e.StartGPU(open, progress)
	return promise(func() (string, error) {
		<-done
		return withThreads(e.InfoJSON())
	})
}

func sampleJS(this js.Value, args []js.Value) any {
	var req engine.Request
	var err error
	if len(args) == 0 || args[0].Type() != js.TypeString {
		err = errors.New("sample: want the request as a JSON string")
	} else if req, err = engine.ParseRequest([]byte(args[0].String())); err != nil {
		err = errors.New("sample: " + err.Error())
	}
	var onStep js.Value
	if len(args) > 1 && args[1].Type() == js.TypeFunction {
		onStep = args[1]
	}
	mu.Lock()
	e := eng
	if cancel != nil {
		cancel() // one sample at a time: a new one replaces the old
	}
	ctx, stop := context.WithCancel(context.Background())
	cancel = stop
	mu.Unlock()
	return promise(func() (string, error) {
		defer stop()
		if err != nil {
			return "", err
		}
		if e == nil {
			return "", errors.New("sample: no model loaded")
		}
		defer gcOn()
		turned := time.Now()
		out, err := e.Sample(ctx, req, func(s engine.Step) {
			if onStep.Truthy() {
				b, _ := json.Marshal(s)
				onStep.Invoke(string(b))
			}
			// Let the worker's event loop run (a cancel message, for one): on the CPU
			// the sampler would otherwise hold the only thread until it finishes. Every
			// 30 ms is often enough for a person, and a turn of the loop costs each step
			// time (steps posted here reach the page without it).
			if time.Since(turned) >= 30*time.Millisecond {
				yield()
				turned = time.Now()
			}
		})
		if err != nil {
			return "", err
		}
		b, _ := json.Marshal(out)
		return string(b), nil
	})
}

func cancelJS(this js.Value, args []js.Value) any {
	mu.Lock()
	defer mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return nil
}

// yield returns control to the JS event loop for a moment, so that what waits there (a
// cancel message, for one) runs: with every goroutine asleep, Go's wasm scheduler hands
// the thread back until a callback wakes one. The wake-up is a message to ourselves on a
// MessageChannel rather than a timer, which browsers delay by at least 4 ms once timers
// nest (each step of a sample would pay it).
func yield() {
	wakeOnce.Do(func() {
		mc := js.Global().Get("MessageChannel")
		if mc.Type() != js.TypeFunction {
			return
		}
		ch := mc.New()
		woken = make(chan struct{}, 64)
		ch.Get("port1").Set("onmessage", js.FuncOf(func(js.Value, []js.Value) any {
			woken <- struct{}{} // never blocks: one token for each yield waiting
			return nil
		}))
		wakePort = ch.Get("port2")
	})
	if woken == nil {
		time.Sleep(time.Millisecond)
		return
	}
	wakePort.Call("postMessage", nil)
	<-woken
}

var (
	wakeOnce sync.Once
	wakePort js.Value      // yield posts here...
	woken    chan struct{} // ...and waits for the token the message brings
)
