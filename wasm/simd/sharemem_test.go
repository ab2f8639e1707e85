package simd

import (
	"bytes"
	"strings"
	"testing"
)

// wasmWith returns a version-1 binary of the given sections, each (id, body).
func wasmWith(sections ...[]byte) []byte {
	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	for _, s := range sections {
		out = append(out, s[0])
		out = (&asm{b: out}).uleb(uint32(len(s) - 1)).b
		out = append(out, s[1:]...)
	}
	return out
}

func TestShareMemory(t *testing.T) {
	custom := append([]byte{0}, []byte("\x04name\x01\x02\x03")...)
	typ := []byte{1, 1, 0x60, 0, 0}
	// Go's layout: one memory, minimum 300 pages (a two-byte LEB128), no maximum.
	in := wasmWith(typ, []byte{secMemory, 1, 0x00, 0xac, 0x02}, custom)
	out, err := ShareMemory(in)
	if err != nil {
		t.Fatal(err)
	}
	want := wasmWith(typ, []byte{secMemory, 1, limitsShared, 0xac, 0x02, 0x80, 0x80, 0x04}, custom)
	if !bytes.Equal(out, want) {
		t.Fatalf("ShareMemory =\n%x\nwant\n%x", out, want)
	}
	if bytes.Equal(in, out) {
		t.Fatal("input changed in place")
	}
	for _, tc := range []struct {
		name string
		bin  []byte
		want string
	}{
		{"not wasm", []byte("\x7fELF\x02\x01\x01\x00\x00"), "not a WebAssembly"},
		{"no memory", wasmWith(typ, custom), "defines no memory"},
		{"shared already", out, "limits flag is 0x3"},
		{"with a maximum", wasmWith([]byte{secMemory, 1, 0x01, 1, 2}), "limits flag is 0x1"},
		{"two memories", wasmWith([]byte{secMemory, 2, 0x00, 1, 0x00, 1}), "want one memory"},
		{"truncated section", append(wasmWith(typ), secMemory, 9, 1, 0x00), "past the end"},
		{"trailing bytes in the section", wasmWith([]byte{secMemory, 1, 0x00, 1, 9}), "malformed"},
	} {
		if _, err := ShareMemory(tc.bin); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
