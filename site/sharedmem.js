// sharedmem.js lets Go's glue (wasm_exec.js) run a Go program whose memory is shared:
// Go's binary rewritten by build/sharemem, which a cross-origin isolated page runs so that
// helper threads can share the SIMD kernel's work on Go's slices (wasm/simd). The glue
// decodes strings straight out of Go's memory and asks for random bytes into it, which
// browsers refuse on views of a shared memory; these copy through an unshared buffer
// instead (and change nothing for an unshared one). Load it before wasm_exec.js, which
// keeps a TextDecoder of its own. Used by site/worker.js and the browser benchmark.
"use strict";
{
  const isShared = (v) => typeof SharedArrayBuffer === "function" && v && v.buffer instanceof SharedArrayBuffer;
  const decode = TextDecoder.prototype.decode;
  TextDecoder.prototype.decode = function (v, opts) {
    return decode.call(this, isShared(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice() : v, opts);
  };
  const random = crypto.getRandomValues.bind(crypto);
  crypto.getRandomValues = (v) => {
    if (!isShared(v)) return random(v);
    const t = new Uint8Array(v.byteLength);
    random(t);
    new Uint8Array(v.buffer, v.byteOffset, v.byteLength).set(t);
    return v;
  };
}
