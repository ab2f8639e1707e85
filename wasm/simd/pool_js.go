//go:build js && wasm

package simd

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"syscall/js"
)

// Go's wasm port runs on one thread. On a shared memory (Go's binary rewritten by
// ShareMemory, which a cross-origin isolated page may instantiate) helper threads can run
// the kernel on Go's slices where they lie: each helper is a Web Worker (a worker_threads
// Worker in Node) holding its own instance of the kernel module on the same memory. A
// large product is cut by columns of C into chunks of whole Cols blocks: Go writes the
// job into a block of control words in its own memory, wakes the helpers with
// Atomics.notify, and every thread, Go's included, claims chunks with Atomics.add until
// none is left, so a helper that the machine slows (or never schedules) costs only the
// chunk it holds. Go then waits until every helper has stored that it is done. Packing A
// stays on Go's thread: it is a small copy, and every chunk reads all of it. Attention is
// cut by (sequence, head) pairs instead, each chunk running the module's attention on its
// pairs (its products are too small to cut by columns). Nothing else is threaded; the
// products and attention are about nine tenths of a forward pass.

// helperJS is a helper's whole program. Its first message carries the compiled kernel, the
// memory, the byte address of the job's control words and where each one is (job* below,
// as slots); it answers
// {ready} or {error}, then serves jobs until the job number turns negative. The claim
// word holds the job's tag (its number's low 15 bits) times 2^16 plus the next chunk's
// index, and a helper claims by compare-and-exchange only under the tag of the job whose
// arguments it read: one that wakes after its job has ended takes nothing, not even a
// chunk of the next job, whose index it would otherwise use up. It counts itself busy
// around each claim, and Go waits for that count to reach zero, not for a sleeping helper
// to wake.
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
  const w = new Int32Array(m.memory.buffer, m.ctl, m.words), f = new Float32Array(m.memory.buffer, m.ctl, m.words);
  const { seq: SEQ, args: ARGS, next: NEXT, helped: HELPED, busy: BUSY, failed: FAILED } = m.slots;
  const { gemmNT: GEMM_NT, attention: ATTENTION } = m.kinds;
  for (let seen = 0; ;) {
    Atomics.wait(w, SEQ, seen);
    const seq = Atomics.load(w, SEQ);
    if (seq < 0) return;
    seen = seq;
    const [kind, mm, n, k, ap, b, ldb, c, ldc, chunk] = w.subarray(ARGS, ARGS + 10), alpha = f[ARGS + 10], beta = f[ARGS + 11];
    const [v, probs, scratch, stride, heads, causal] = w.subarray(ARGS + 12, ARGS + 18);
    const chunks = kind === ATTENTION ? Math.ceil(n / chunk) : Math.floor(n / chunk), tag = seq & 0x7fff;
    const run = kind === ATTENTION
      ? (j) => ex.attention(j * chunk, Math.min(n, (j + 1) * chunk), ap, b, v, c, probs, scratch + j * stride, mm, k, ldb, ldc, heads, causal, alpha)
      : (j) => {
        const lo = j * chunk, cols = j === chunks - 1 ? n - lo : chunk;
        (kind === GEMM_NT ? ex.gemm_nt : ex.gemm_nn)(mm, cols, k, ap, b + 4 * lo * (kind === GEMM_NT ? ldb : 1), ldb, c + 4 * lo, ldc, alpha, beta);
      };
    for (;;) {
      Atomics.add(w, BUSY, 1);
      let claim = Atomics.load(w, NEXT), mine = false;
      while (claim >>> 16 === tag && (claim & 0xffff) < chunks) {
        const got = Atomics.compareExchange(w, NEXT, claim, claim + 1);
        if (got === claim) { mine = true; break; }
        claim = got;
      }
      const j = claim & 0xffff;
      if (mine) {
        try {
          run(j);
          Atomics.add(w, HELPED, 1);
        } catch (err) {
          Atomics.store(w, FAILED, 1);
        }
      }
      if (Atomics.sub(w, BUSY, 1) === 1) Atomics.notify(w, BUSY);
      if (!mine) break;
    }
  }
});
`

// The job's control words (int32s; alpha and beta as float32 bits).
const (
	jobSeq  = 0 // the job number, stored by Go: the helpers start when it changes (< 0: stop)
	jobArgs = 1 // kind, m, n, k, ap, b, ldb, c, ldc, chunk, alpha, beta, then an attention's
	// v, probs, scratch, stride, heads, causal (see jobArgWords)
	jobNext   = jobArgs + jobArgWords // the next claim: the job's tag << 16 | the next chunk's index
	jobHelped = jobNext + 1           // chunks the helpers have run, all jobs together (tests read it)
	jobBusy   = jobNext + 2           // helpers between a claim and the end of its chunk
	jobFailed = jobNext + 3           // 1 when a helper's kernel threw (it cannot: its arguments are checked here)
	jobWords  = jobNext + 4

	jobArgWords = 18
)

// The kinds of job: a product cut by columns (chunk: columns), or attention cut by
// (sequence, head) pairs (chunk: pairs; m = l, n = pairs, k = hd, ap = q, b = k,
// ldb = ld, c = out, ldc = d, alpha = scale, and each chunk packs into scratch + its
// index times stride bytes).
const (
	kindGemmNN = iota
	kindGemmNT
	kindAttention
)

// spinLoads is how many times Go reads a helper's progress before it sleeps until the
// helper wakes it: some tens of microseconds.
const spinLoads = 200

// minSplit is the smallest product (m n k multiply-adds) that is split: about 50 us of one
// thread, against a few microseconds to wake a helper and wait for it.
const minSplit = 1 << 20

// chunksPerThread is how many chunks each thread gets on average: enough that one slow
// thread holds up the others for a small part of the product.
const chunksPerThread = 8

// pool is the helper threads of one Impl. It is used only once every helper has answered
// (ready), so a helper that never starts costs a sample nothing.
type pool struct {
	ctl     []int32  // the job's words, in Go's memory, never moved (Go's heap does not move)
	view    js.Value // Int32Array over the memory when the pool started; ctl lies inside it
	workers []js.Value
	seq     int32
	canWait bool // whether this thread may block in Atomics.wait (a worker, Node), or must spin
	ready   atomic.Bool
	settled chan struct{} // closed once every helper has answered
	failed  atomic.Value  // string: why the pool was given up

	// Atomics' functions, held so that a call does not look the name up (they need no this)
	store, notify, add, load, wait, exchange js.Value
}

// isShared reports whether mem (a WebAssembly.Memory) is shared.
func isShared(mem js.Value) bool {
	sab := js.Global().Get("SharedArrayBuffer")
	return sab.Truthy() && mem.Get("buffer").InstanceOf(sab)
}

// DefaultThreads is the number of threads the products run on by default on mem: the
// host's logical processors (navigator.hardwareConcurrency), at most 4, since a forward
// pass of the released model has products too small to keep more busy; 1 unless mem is
// shared.
func DefaultThreads(mem js.Value) int {
	if !mem.Truthy() || !isShared(mem) {
		return 1
	}
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
	p := &pool{ctl: make([]int32, jobWords), view: js.Global().Get("Int32Array").New(mem.Get("buffer")),
		settled: make(chan struct{})}
	atomics := js.Global().Get("Atomics")
	p.store, p.notify, p.add, p.load, p.wait = atomics.Get("store"), atomics.Get("notify"), atomics.Get("add"), atomics.Get("load"), atomics.Get("wait")
	p.exchange = atomics.Get("exchange")
	p.canWait = mayWait(p.wait, p.view, addr(p.ctl)/4)
	g := js.Global()
	newWorker := func() (w js.Value, err error) {
		defer func() {
			if r := recover(); r != nil { // a js.Error: say a policy that refuses blob: workers
				err = fmt.Errorf("simd: a helper thread could not start: %v", r)
			}
		}()
		if w := g.Get("Worker"); w.Type() == js.TypeFunction { // a browser
			url := g.Get("URL").Call("createObjectURL", g.Get("Blob").New([]any{helperJS}, map[string]any{"type": "text/javascript"}))
			return w.New(url), nil
		}
		if req := g.Get("require"); req.Type() == js.TypeFunction { // Node
			w := req.Invoke("worker_threads").Get("Worker").New(helperJS, map[string]any{"eval": true})
			w.Call("unref") // a helper waiting for work does not keep Node running
			return w, nil
		}
		return js.Undefined(), errors.New("simd: this host has no Worker to run helper threads on")
	}
	// Each helper answers once: a message (ready, or why its kernel did not instantiate),
	// or an error event when its script did not run at all.
	answered := 0
	answer := func(failure string) {
		if failure != "" && p.failed.Load() == nil {
			p.failed.Store("a helper thread could not start: " + failure)
		}
		if answered++; answered == helpers {
			if p.failed.Load() == nil {
				p.ready.Store(true)
			}
			close(p.settled)
		}
	}
	for range helpers {
		w, err := newWorker()
		if err != nil {
			p.Close()
			return nil, err
		}
		// The two listeners stay (never released): a late event must find them.
		once := false
		settle := func(failure string) {
			if !once {
				once = true
				answer(failure)
			}
		}
		onMessage := js.FuncOf(func(_ js.Value, args []js.Value) any {
			data := args[0]
			if d := data.Get("data"); d.Truthy() { // a browser's MessageEvent; Node passes the data
				data = d
			}
			why := ""
			if e := data.Get("error"); e.Truthy() {
				why = e.String()
			}
			settle(why)
			return nil
		})
		onError := js.FuncOf(func(_ js.Value, args []js.Value) any {
			why := "its script failed"
			if m := args[0].Get("message"); m.Type() == js.TypeString {
				why += ": " + m.String()
			}
			settle(why)
			return nil
		})
		if w.Get("on").Type() == js.TypeFunction { // Node's EventEmitter
			w.Call("once", "message", onMessage)
			w.Call("once", "error", onError)
		} else {
			w.Call("addEventListener", "message", onMessage, map[string]any{"once": true})
			w.Call("addEventListener", "error", onError, map[string]any{"once": true})
		}
		w.Call("postMessage", map[string]any{"module": mod, "memory": mem, "ctl": addr(p.ctl), "words": jobWords,
			"slots": map[string]any{"seq": jobSeq, "args": jobArgs, "next": jobNext, "helped": jobHelped, "busy": jobBusy, "failed": jobFailed},
			"kinds": map[string]any{"gemmNT": kindGemmNT, "attention": kindAttention}})
		p.workers = append(p.workers, w)
	}
	return p, nil
}

// mayWait reports whether this thread may call Atomics.wait: a page's main thread may not
// (it throws), workers and Node may. view[i] is an int32 that is not 1.
func mayWait(wait, view js.Value, i int) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	wait.Invoke(view, i, 1, 0) // "not-equal" at once where allowed
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
// ldb) into C (c, ldc), all byte addresses, with n cut into chunks of whole Cols blocks
// that this thread and the helpers claim in turn (the last chunk takes the remainder).
// It reports false, having done nothing, when the pool is not ready or the product is
// too small to split.
func (p *pool) gemm(kernel js.Value, nt bool, m, n, k, ap, b, ldb, c, ldc int, alpha, beta float32) bool {
	threads := p.threads()
	chunk := n / (threads * chunksPerThread) / Cols * Cols
	if threads == 1 || m*n*k < minSplit {
		return false
	}
	chunk = max(chunk, Cols)
	chunks := n / chunk
	if chunks < 2 {
		return false
	}
	kind := int32(kindGemmNN)
	if nt {
		kind = kindGemmNT
	}
	p.run([]int32{kind, int32(m), int32(n), int32(k), int32(ap), int32(b), int32(ldb), int32(c), int32(ldc), int32(chunk),
		int32(math.Float32bits(alpha)), int32(math.Float32bits(beta))}, chunks, func(j int) {
		lo, cols := j*chunk, chunk
		if j == chunks-1 {
			cols = n - lo
		}
		bj := b + 4*lo // gemm_nn: B's columns
		if nt {
			bj = b + 4*lo*ldb // gemm_nt: B's rows
		}
		kernel.Invoke(m, cols, k, ap, bj, ldb, c+4*lo, ldc, alpha, beta)
	})
	return true
}

// attentionChunks is how many chunks attention over pairs (sequence, head) pairs of
// sequences of l positions, heads of hd values, is cut into on this pool, and how many
// pairs each holds; 0 chunks when the pool is not ready or the work is too small to split.
func (p *pool) attentionChunks(pairs, l, hd int) (chunks, chunk int) {
	threads := p.threads()
	if threads == 1 || pairs < 2 || 2*pairs*l*l*hd < minSplit {
		return 0, 0
	}
	chunk = (pairs + threads*chunksPerThread - 1) / (threads * chunksPerThread)
	return (pairs + chunk - 1) / chunk, chunk
}

// attention runs the module's attention (fn) over pairs (sequence, head) pairs in the
// chunks attentionChunks gave, each chunk packing into scratch + its index times stride
// bytes; see kindAttention for the other arguments.
func (p *pool) attention(fn js.Value, chunks, chunk, pairs, q, k, v, out, probs, scratch, stride, l, hd, ld, d, heads, causal int, scale float32) {
	p.run([]int32{kindAttention, int32(l), int32(pairs), int32(hd), int32(q), int32(k), int32(ld), int32(out), int32(d), int32(chunk),
		int32(math.Float32bits(scale)), 0, int32(v), int32(probs), int32(scratch), int32(stride), int32(heads), int32(causal)}, chunks, func(j int) {
		fn.Invoke(j*chunk, min(pairs, (j+1)*chunk), q, k, v, out, probs, scratch+j*stride, l, hd, ld, d, heads, causal, scale)
	})
}

// run hands the job args (kind, then its arguments: jobArgs) of chunks chunks to the
// helpers, runs chunks itself with work(j) as it claims them, and returns once every
// chunk is done.
func (p *pool) run(args []int32, chunks int, work func(j int)) {
	p.seq++
	base := addr(p.ctl) / 4
	// The new tag goes in first, by an exchange: a helper still holding the last job's
	// arguments can claim nothing from here on, and its reads of them come before this
	// thread's writes of the new ones (the exchange reads what its claims wrote).
	p.exchange.Invoke(p.view, base+jobNext, (p.seq&0x7fff)<<16)
	clear(p.ctl[jobArgs:jobNext])
	copy(p.ctl[jobArgs:jobNext], args)
	p.store.Invoke(p.view, base+jobSeq, p.seq)
	p.notify.Invoke(p.view, base+jobSeq)
	for {
		j := p.add.Invoke(p.view, base+jobNext, 1).Int() & 0xffff
		if j >= chunks {
			break
		}
		work(j)
	}
	// Every chunk is claimed: wait for the helpers still running one. A helper that claims
	// from here on gets an index past the last chunk and runs nothing. Spin a little
	// before sleeping (the chunks are small), and only spin where this thread may not
	// block (a page's main thread refuses Atomics.wait).
	for spins := 0; ; spins++ {
		busy := p.load.Invoke(p.view, base+jobBusy).Int()
		if busy == 0 {
			break
		}
		if spins >= spinLoads && p.canWait {
			p.wait.Invoke(p.view, base+jobBusy, busy)
		}
	}
	if p.ctl[jobFailed] != 0 {
		panic("simd: a helper thread's kernel failed") // its arguments are the checked ones this thread runs too
	}
}

// Close stops the helpers.
func (p *pool) Close() {
	p.ready.Store(false)
	base := addr(p.ctl) / 4
	p.store.Invoke(p.view, base+jobSeq, -1)
	p.notify.Invoke(p.view, base+jobSeq)
	for _, w := range p.workers {
		w.Call("terminate")
	}
	p.workers = nil
}
