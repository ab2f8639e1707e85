package simd

import (
	"bytes"
	"errors"
	"fmt"
)

// Go's wasm port defines its linear memory as unshared, with no maximum. A shared memory
// is what lets helper threads (Web Workers running this package's kernel, pool_js.go)
// work on Go's slices in place; the browser hands one out only to a cross-origin isolated
// page. ShareMemory rewrites a Go binary's memory section to a shared one: Go's code
// itself only loads, stores and grows, which a shared memory allows unchanged.

const (
	limitsShared = 0x03  // memory limits flag: a minimum, a maximum, shared
	maxPages     = 65536 // 4 GiB in 64 KiB pages, wasm32's whole address space
	secMemory    = 5     // the memory section's id
)

// ShareMemory returns a copy of the WebAssembly binary bin with its one defined memory
// made shared, with a maximum of 4 GiB (a shared memory must declare one; the browser
// only reserves the address space). It fails on a binary that is not one, or whose memory
// is imported, absent, several, or already has a maximum or is shared.
func ShareMemory(bin []byte) ([]byte, error) {
	if len(bin) < 8 || !bytes.Equal(bin[:8], []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}) {
		return nil, errors.New("sharemem: not a WebAssembly version-1 binary")
	}
	for at := 8; at < len(bin); {
		id := bin[at]
		size, body, err := uleb(bin, at+1)
		if err != nil {
			return nil, fmt.Errorf("sharemem: section at byte %d: %w", at, err)
		}
		end := body + int(size)
		if end > len(bin) || end < body {
			return nil, fmt.Errorf("sharemem: section %d at byte %d runs past the end of the binary", id, at)
		}
		if id != secMemory {
			at = end
			continue
		}
		n, p, err := uleb(bin, body)
		if err != nil || n != 1 || p >= end {
			return nil, fmt.Errorf("sharemem: memory section at byte %d: want one memory, got %d", at, n)
		}
		if flag := bin[p]; flag != 0x00 {
			return nil, fmt.Errorf("sharemem: the memory's limits flag is %#x, want 0 (a minimum only)", flag)
		}
		min, q, err := uleb(bin, p+1)
		if err != nil || q != end {
			return nil, fmt.Errorf("sharemem: memory section at byte %d is malformed", at)
		}
		sec := (&asm{}).uleb(1).op(limitsShared).uleb(min).uleb(maxPages).b
		out := make([]byte, 0, len(bin)+8)
		out = append(out, bin[:at]...)
		out = append(out, secMemory)
		out = (&asm{b: out}).uleb(uint32(len(sec))).b
		out = append(out, sec...)
		return append(out, bin[end:]...), nil
	}
	return nil, errors.New("sharemem: the binary defines no memory (an imported one cannot be changed here)")
}

// uleb reads an unsigned LEB128 value of at most 32 bits at b[at:] and returns it and the
// offset after it.
func uleb(b []byte, at int) (uint32, int, error) {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		if at >= len(b) {
			return 0, at, errors.New("truncated LEB128 number")
		}
		c := b[at]
		at++
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			return v, at, nil
		}
	}
	return 0, at, errors.New("LEB128 number longer than 32 bits")
}
