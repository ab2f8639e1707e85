package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// sample has one entry of every value type, arrays of each, and tensors of the four
// types with sizes that need alignment padding.
func sample() *File {
	return &File{
		KV: []KV{
			{"general.architecture", "llada"},
			{"u8", uint8(200)}, {"i8", int8(-3)}, {"u16", uint16(60000)}, {"i16", int16(-30000)},
			{"u32", uint32(1 << 31)}, {"i32", int32(-1 << 30)}, {"f32", float32(1e-5)}, {"b", true},
			{"u64", uint64(1 << 60)}, {"i64", int64(-1 << 60)}, {"f64", 0.1},
			{"a.u8", []uint8{1, 2}}, {"a.i8", []int8{-1}}, {"a.u16", []uint16{7}}, {"a.i16", []int16{-7}},
			{"a.u32", []uint32{1, 2, 3}}, {"a.i32", []int32{1, 3, 3}}, {"a.f32", []float32{0.5}},
			{"a.b", []bool{true, false}}, {"a.s", []string{"Ġt", "", "<|mask|>"}},
			{"a.u64", []uint64{9}}, {"a.i64", []int64{-9}}, {"a.f64", []float64{2.5}}, {"a.empty", []string{}},
		},
		Tensors: []Tensor{
			{Name: "v", Dims: []uint64{3}, Type: F32, Data: bytes.Repeat([]byte{1}, 12)},
			{Name: "h", Dims: []uint64{5, 1}, Type: F16, Data: bytes.Repeat([]byte{2}, 10)},
			{Name: "q8", Dims: []uint64{32, 2}, Type: Q8_0, Data: bytes.Repeat([]byte{3}, 68)},
			{Name: "q4", Dims: []uint64{64, 1, 1}, Type: Q4_0, Data: bytes.Repeat([]byte{4}, 36)},
		},
	}
}

func encode(t *testing.T, f *File) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 32, 64} {
		f := sample()
		if align != 0 {
			f.KV = append(f.KV, KV{AlignmentKey, align})
		}
		data := encode(t, f)
		g, err := Parse(data)
		if err != nil {
			t.Fatalf("align %d: %v", align, err)
		}
		if !reflect.DeepEqual(f, g) {
			t.Fatalf("align %d: round trip differs:\n%+v\n%+v", align, f, g)
		}
		if a := uint64(max(align, DefaultAlignment)); uint64(len(data))%a != 0 {
			t.Fatalf("align %d: file of %d bytes is not padded to the alignment", align, len(data))
		}
	}
}

// TestLayout pins the header bytes against the spec by hand.
func TestLayout(t *testing.T) {
	f := &File{KV: []KV{{"k", uint32(7)}}, Tensors: []Tensor{{Name: "w", Dims: []uint64{2, 3}, Type: F32, Data: make([]byte, 24)}}}
	data := encode(t, f)
	le := binary.LittleEndian
	var want []byte
	want = append(want, "GGUF"...)
	want = le.AppendUint32(want, 3)
	want = le.AppendUint64(want, 1) // tensors
	want = le.AppendUint64(want, 1) // entries
	want = le.AppendUint64(want, 1)
	want = append(want, 'k')
	want = le.AppendUint32(want, uint32(TypeUint32))
	want = le.AppendUint32(want, 7)
	want = le.AppendUint64(want, 1)
	want = append(want, 'w')
	want = le.AppendUint32(want, 2)
	want = le.AppendUint64(want, 2)
	want = le.AppendUint64(want, 3)
	want = le.AppendUint32(want, 0) // F32
	want = le.AppendUint64(want, 0) // offset
	want = append(want, make([]byte, 96-len(want))...)
	want = append(want, make([]byte, 32)...) // 24 data bytes padded to 32
	if !bytes.Equal(data, want) {
		t.Fatalf("bytes\n%x\nwant\n%x", data, want)
	}
}

func TestWriteErrors(t *testing.T) {
	cases := map[string]func(f *File){
		"duplicate key":   func(f *File) { f.KV = append(f.KV, KV{"u8", uint8(1)}) },
		"no GGUF type":    func(f *File) { f.KV = append(f.KV, KV{"x", 3}) },
		"nested":          func(f *File) { f.KV = append(f.KV, KV{"x", [][]string{{"a"}}}) },
		"alignment":       func(f *File) { f.KV = append(f.KV, KV{AlignmentKey, uint32(24)}) },
		"alignment type":  func(f *File) { f.KV = append(f.KV, KV{AlignmentKey, 32}) },
		"repeated tensor": func(f *File) { f.Tensors = append(f.Tensors, f.Tensors[0]) },
		"long name":       func(f *File) { f.Tensors[0].Name = strings.Repeat("n", 64) },
		"data size":       func(f *File) { f.Tensors[0].Data = f.Tensors[0].Data[:8] },
		"5 dims":          func(f *File) { f.Tensors[0].Dims = []uint64{3, 1, 1, 1, 1} },
		"block rows":      func(f *File) { f.Tensors[2].Dims = []uint64{16, 4} },
		"type":            func(f *File) { f.Tensors[0].Type = 99 },
	}
	for name, breakIt := range cases {
		f := sample()
		breakIt(f)
		if err := Write(&bytes.Buffer{}, f); err == nil {
			t.Errorf("%s: Write accepted it", name)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := encode(t, sample())
	if _, err := Parse(good); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	patch := func(at int, b ...byte) []byte {
		d := bytes.Clone(good)
		copy(d[at:], b)
		return d
	}
	// The first entry starts at 24: key length, "general.architecture", type.
	typeAt := 24 + 8 + len("general.architecture")
	cases := map[string][]byte{
		"empty":        nil,
		"magic":        patch(0, 'G', 'G', 'M', 'L'),
		"version 2":    patch(4, 2),
		"huge tensors": patch(8, le.AppendUint64(nil, 1<<40)...),
		"huge kvs":     patch(16, le.AppendUint64(nil, 1<<40)...),
		"value type":   patch(typeAt, 13),
		"truncated":    good[:len(good)-40],
		"header only":  good[:100],
	}
	// A bool that is neither 0 nor 1 (the value after header, key and type), and a
	// key repeated (the second entry's key byte, after the first entry's 22 bytes).
	d := encode(t, &File{KV: []KV{{"b", true}}})
	d[24+8+1+4] = 2
	cases["bool 2"] = d
	d = encode(t, &File{KV: []KV{{"a", "x"}, {"b", "x"}}})
	d[24+22+8] = 'a'
	cases["duplicate key"] = d
	// A tensor offset that skips the padding llama.cpp expects.
	g := sample()
	data := encode(t, g)
	i := bytes.Index(data, append(le.AppendUint64(nil, 1), 'h'))
	off := i + 8 + 1 + 4 + 16 + 4
	cases["offset"] = patch(off, le.AppendUint64(nil, 16)...)
	for name, d := range cases {
		if _, err := Parse(d); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want an ErrFormat error", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(encode(&testing.T{}, sample()))
	f.Add(encode(&testing.T{}, &File{KV: []KV{{AlignmentKey, uint32(64)}}}))
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		// What Parse accepts, Write writes, and it reads back the same.
		var b bytes.Buffer
		if err := Write(&b, g); err != nil {
			t.Fatalf("Write of a parsed file: %v", err)
		}
		h, err := Parse(b.Bytes())
		if err != nil {
			t.Fatalf("Parse of a written file: %v", err)
		}
		if !reflect.DeepEqual(g, h) && !hasNaN(g) {
			t.Fatalf("round trip differs")
		}
	})
}

// hasNaN reports a float value, which DeepEqual never finds equal to itself.
func hasNaN(f *File) bool {
	for _, kv := range f.KV {
		switch v := kv.Value.(type) {
		case float32:
			if v != v {
				return true
			}
		case float64:
			if v != v {
				return true
			}
		case []float32:
			for _, e := range v {
				if e != e {
					return true
				}
			}
		case []float64:
			for _, e := range v {
				if e != e {
					return true
				}
			}
		}
	}
	return false
}
