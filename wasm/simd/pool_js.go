//go:build js && wasm

package simd

import (
	"errors"
	"math"
	"sync/atomic"
	"syscall/js"
)

// Go's wasm port runs on one thread. On a shared memory (Go's binary rewritten by
// ShareMemory, which a cross-origin isolated page may instantiate) helper threads can run
// the kernel on Go's slices where they lie: each helper is a Web Worker (a worker_threads
// Worker in Node) holding its own instance of the kernel module on the same memory. A
// large product is split by columns of C: Go hands each helper its share through a block
// of control words in its own memory, wakes it with Atomics.notify, runs the first share
// itself and waits (Atomics.wait, which a worker may do) until every helper has stored
// that it is done. Packing A stays on Go's thread: it is a small copy, and every share
// reads all of it. Nothing else is threaded; the products are about three quarters of a
// forward pass.

// helperJS is a helper's whole program. Its first message carries the compiled kernel, the
// memory and the byte address of its control words (ctl* below); it answers {ready} or
// {error}, then serves jobs until its job number turns negative.
const helperJS = `"use strict";
const port = typeof self === "object" && typeof self.postMessage === "function" ? self : require("worker_threads").parentPort;
const onFirst = (f) => port.addEventListener ? port.addEventListener("message", (e) => f(e.data), { once: true }) : port.once("message", f);
onFirst((m) => {
  let ex;
  try {
    ex = new WebAssembly.Instance(m.module, { env: { mem: m.memory } }).exports;
  } catch (err) {
    port.postMessage({ error: String(err) });
    return;
  }
  port.postMessage({ ready: true });
  const w = new Int32Array(m.memory.buffer, m.ctl, 16), f = new Float32Array(m.memory.buffer, m.ctl, 16);
  const kernels = [ex.gemm_nt, ex.gemm_nn];
  for (let seen = 0; ;) {
    Atomics.wait(w, 0, seen);
    const seq = Atomics.load(w, 0);
    if (seq < 0) return;
    try {
      kernels[w[2]](w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10], f[11], f[12]);
      w[13] = 0;
    } catch (err) {
      w[13] = 1;
    }
    seen = seq;
    Atomics.store(w, 1, seq);
    Atomics.notify(w, 1);
  }
});
`

// A helper's control words (int32s; alpha and beta as float32 bits).
const (
	ctlSeq    = 0  // the job number, stored by Go: the helper starts when it changes (< 0: stop)
	ctlDone   = 1  // the last job number the helper finished
	ctlKernel = 2  // 0: gemm_nt, 1: gemm_nn; then the kernel's arguments for the share:
	ctlArgs   = 3  // m, n, k, ap, b, ldb, c, ldc, alpha, beta (10 words)
	ctlFailed = 13 // 1 when the kernel threw (it cannot: its arguments are checked here)
	ctlWords  = 16
)

// spinLoads is how many times Go reads a helper's progress before it sleeps until the
// helper wakes it: some tens of microseconds.
const spinLoads = 200

// minSplit is the smallest product (m n k multiply-adds) that is split: about 50 us of one
// thread, against a few microseconds to wake a helper and wait for it.
const minSplit = 1 << 20

// pool is the helper threads of one Impl. It is used only once every helper has answered
// (ready), so a helper that never starts costs a sample nothing.
type pool struct {
	ctl     []int32  // (helpers, ctlWords) in Go's memory, never moved (Go's heap does not move)
	view    js.Value // Int32Array over the memory when the pool started; ctl lies inside it
	atomics js.Value
	workers []js.Value
	seq     int32
	canWait bool // whether this thread may block in Atomics.wait (a worker, Node), or must spin
	ready   atomic.Bool
	settled chan struct{} // closed once every helper has answered
	failed  atomic.Value  // string: why the pool was given up
}

// isShared reports whether mem (a WebAssembly.Memory) is shared.
func isShared(mem js.Value) bool {
	sab := js.Global().Get("SharedArrayBuffer")
	return sab.Truthy() && mem.Get("buffer").InstanceOf(sab)
}

// DefaultThreads is the number of threads a pool uses by default: the host's logical
// processors (navigator.hardwareConcurrency), at most 4, since a forward pass of the
// released model has products too small to keep more busy.
func DefaultThreads() int {
	n := 1
	if nav := js.Global().Get("navigator"); nav.Truthy() && nav.Get("hardwareConcurrency").Type() == js.TypeNumber {
		n = nav.Get("hardwareConcurrency").Int()
	}
	return max(1, min(n, 4))
}

// startPool starts helpers for threads-1 helper threads running mod (SharedModule's
// compiled bytes) on mem. It returns at once; the pool serves products once every helper
// has said it is ready.
func startPool(mod, mem js.Value, threads int) (*pool, error) {
	helpers := threads - 1
	p := &pool{ctl: make([]int32, helpers*ctlWords), view: js.Global().Get("Int32Array").New(mem.Get("buffer")),
		atomics: js.Global().Get("Atomics"), settled: make(chan struct{})}
	p.canWait = mayWait(p.atomics, p.view, addr(p.ctl)/4)
	g := js.Global()
	newWorker := func() js.Value {
		if w := g.Get("Worker"); w.Type() == js.TypeFunction { // a browser
			url := g.Get("URL").Call("createObjectURL", g.Get("Blob").New([]any{helperJS}, map[string]any{"type": "text/javascript"}))
			return w.New(url)
		}
		if req := g.Get("require"); req.Type() == js.TypeFunction { // Node
			w := req.Invoke("worker_threads").Get("Worker").New(helperJS, map[string]any{"eval": true})
			w.Call("unref") // a helper waiting for work does not keep Node running
			return w
		}
		return js.Undefined()
	}
	answered := 0
	var onMessage js.Func
	onMessage = js.FuncOf(func(this js.Value, args []js.Value) any {
		data := args[0]
		if d := data.Get("data"); d.Truthy() { // a browser's MessageEvent; Node passes the data
			data = d
		}
		if e := data.Get("error"); e.Truthy() {
			p.failed.Store("a helper thread could not start: " + e.String())
		}
		if answered++; answered == helpers {
			if p.failed.Load() == nil {
				p.ready.Store(true)
			}
			close(p.settled)
			onMessage.Release()
		}
		return nil
	})
	for h := range helpers {
		w := newWorker()
		if !w.Truthy() {
			p.Close()
			return nil, errors.New("simd: no Worker to run helper threads on")
		}
		if w.Get("on").Type() == js.TypeFunction {
			w.Call("once", "message", onMessage)
		} else {
			w.Call("addEventListener", "message", onMessage, map[string]any{"once": true})
		}
		w.Call("postMessage", map[string]any{"module": mod, "memory": mem, "ctl": addr(p.ctl[h*ctlWords:])})
		p.workers = append(p.workers, w)
	}
	return p, nil
}

// mayWait reports whether this thread may call Atomics.wait: a page's main thread may not
// (it throws), workers and Node may. view[i] is an int32 that is not 1.
func mayWait(atomics, view js.Value, i int) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	atomics.Call("wait", view, i, 1, 0) // "not-equal" at once where allowed
	return true
}

// threads is 1 + the helpers once they are ready, else 1.
func (p *pool) threads() int {
	if p == nil || !p.ready.Load() {
		return 1
	}
	return 1 + len(p.workers)
}

// gemm runs kernel (nt: gemm_nt, else gemm_nn) on the packed A ap (m, k) against B (b,
// ldb) into C (c, ldc), all byte addresses, with n split by columns between this thread
// and the helpers, in shares of whole Cols blocks. It reports false, having done nothing,
// when the pool is not ready or the product is too small to split.
func (p *pool) gemm(kernel js.Value, nt bool, m, n, k, ap, b, ldb, c, ldc int, alpha, beta float32) bool {
	parts := p.threads()
	share := n / parts / Cols * Cols
	if parts == 1 || m*n*k < minSplit || share < Cols {
		return false
	}
	first := n - (parts-1)*share // this thread's columns, the rest of the split
	p.seq++
	base := addr(p.ctl) / 4
	for h := range parts - 1 {
		lo := first + h*share
		bh := b + 4*lo // gemm_nn: B's columns
		if nt {
			bh = b + 4*lo*ldb // gemm_nt: B's rows
		}
		kind := int32(1)
		if nt {
			kind = 0
		}
		w := p.ctl[h*ctlWords : (h+1)*ctlWords]
		w[ctlKernel] = kind
		copy(w[ctlArgs:], []int32{int32(m), int32(share), int32(k), int32(ap), int32(bh), int32(ldb), int32(c + 4*lo), int32(ldc),
			int32(math.Float32bits(alpha)), int32(math.Float32bits(beta))})
		i := base + h*ctlWords
		p.atomics.Call("store", p.view, i+ctlSeq, p.seq)
		p.atomics.Call("notify", p.view, i+ctlSeq)
	}
	kernel.Invoke(m, first, k, ap, b, ldb, c, ldc, alpha, beta)
	for h := range parts - 1 {
		i := base + h*ctlWords + ctlDone
		// The shares are about equal, so the helper is usually about done: spin a little
		// before sleeping, and only spin where this thread may not block (a page's main
		// thread refuses Atomics.wait).
		for spins := 0; p.atomics.Call("load", p.view, i).Int() != int(p.seq); spins++ {
			if spins >= spinLoads && p.canWait {
				p.atomics.Call("wait", p.view, i, p.seq-1)
			}
		}
		if p.ctl[h*ctlWords+ctlFailed] != 0 {
			panic("simd: a helper thread's kernel failed") // its arguments are the checked ones this thread runs too
		}
	}
	return true
}

// Close stops the helpers.
func (p *pool) Close() {
	p.ready.Store(false)
	base := addr(p.ctl) / 4
	for h, w := range p.workers {
		p.atomics.Call("store", p.view, base+h*ctlWords+ctlSeq, -1)
		p.atomics.Call("notify", p.view, base+h*ctlWords+ctlSeq)
		w.Call("terminate")
	}
	p.workers = nil
}
