package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// handBuilt assembles a file byte by byte: header out of data order, all
// three readable dtypes, a scalar, metadata and space padding.
func handBuilt() []byte {
	header := `{"b":{"dtype":"F16","shape":[1,2],"data_offsets":[8,12]},` +
		`"__metadata__":{"format":"pt"},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"c":{"dtype":"BF16","shape":[],"data_offsets":[12,14]}}   `
	var out []byte
	out = binary.LittleEndian.AppendUint64(out, uint64(len(header)))
	out = append(out, header...)
	out = append(out, 0x00, 0x00, 0x80, 0x3f) // a[0] = 1.0f
	out = append(out, 0x00, 0x00, 0x00, 0xc0) // a[1] = -2.0f
	out = append(out, 0x00, 0x3c)             // b[0] = 1.0 (half)
	out = append(out, 0x01, 0x80)             // b[1] = -2^-24 (negative subnormal half)
	out = append(out, 0xc0, 0x40)             // c = 6.0 (bf16 0x40c0)
	return out
}

func TestReadHandBuilt(t *testing.T) {
	f, err := Read(handBuilt())
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || len(f.Metadata) != 1 {
		t.Errorf("metadata %v", f.Metadata)
	}
	want := []struct {
		name  string
		shape []int
		data  []float32
	}{
		{"a", []int{2}, []float32{1, -2}},
		{"b", []int{1, 2}, []float32{1, float32(-math.Ldexp(1, -24))}},
		{"c", []int{}, []float32{6}},
	}
	if len(f.Tensors) != len(want) {
		t.Fatalf("%d tensors", len(f.Tensors))
	}
	for i, w := range want {
		g := f.Tensors[i]
		if g.Name != w.name || !slices.Equal(g.Shape, w.shape) || len(g.Data) != len(w.data) {
			t.Fatalf("tensor %d = %s %v %v, want %s %v", i, g.Name, g.Shape, g.Data, w.name, w.shape)
		}
		for j := range w.data {
			if g.Data[j] != w.data[j] {
				t.Errorf("%s[%d] = %v, want %v", w.name, j, g.Data[j], w.data[j])
			}
		}
	}
}

func TestWriteReadBitIdentical(t *testing.T) {
	odd := []float32{0, float32(math.Copysign(0, -1)), math.Float32frombits(1), math.Float32frombits(0x7fc12345),
		float32(math.Inf(-1)), math.MaxFloat32, 1e-30}
	f := &File{
		Metadata: map[string]string{"format": "pt", "note": "ünïcode \"quoted\""},
		Tensors: []Tensor{
			{Name: "w.weight", Shape: []int{7}, Data: odd},
			{Name: "empty", Shape: []int{0, 3}, Data: []float32{}},
			{Name: "scalar", Shape: []int{}, Data: []float32{3.5}},
			{Name: "m", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		},
	}
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	if hl := binary.LittleEndian.Uint64(buf.Bytes()); (8+hl)%8 != 0 {
		t.Errorf("data section at %d, not 8-aligned", 8+hl)
	}
	g, err := Read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Metadata) != 2 || g.Metadata["note"] != f.Metadata["note"] {
		t.Errorf("metadata %v", g.Metadata)
	}
	// Read returns data order; the zero-size tensor sits at the same offset
	// as the next one and sorts stably, so the order is the written one.
	if len(g.Tensors) != len(f.Tensors) {
		t.Fatalf("%d tensors", len(g.Tensors))
	}
	for i, w := range f.Tensors {
		r := g.Tensors[i]
		if r.Name != w.Name || !slices.Equal(r.Shape, w.Shape) || len(r.Data) != len(w.Data) {
			t.Fatalf("tensor %d: %s %v, want %s %v", i, r.Name, r.Shape, w.Name, w.Shape)
		}
		for j := range w.Data {
			if math.Float32bits(r.Data[j]) != math.Float32bits(w.Data[j]) {
				t.Errorf("%s[%d]: %#x, want %#x", w.Name, j, math.Float32bits(r.Data[j]), math.Float32bits(w.Data[j]))
			}
		}
	}
	var again bytes.Buffer
	if err := Write(&again, g); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("write(read(write(f))) differs from write(f): %v", err)
	}
}

func withHeader(h string, data ...byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

func TestReadErrors(t *testing.T) {
	four := []byte{0, 0, 0, 0}
	huge := binary.LittleEndian.AppendUint64(nil, MaxHeader+1)
	cases := []struct {
		name, msg string
		data      []byte
	}{
		{"short", "shorter", []byte{1, 2}},
		{"header cap", "limit", append(huge, "{}"...)},
		{"header past end", "only", binary.LittleEndian.AppendUint64(nil, 50)},
		{"not an object", "'{'", withHeader(`[1]`)},
		{"bad JSON", "header", withHeader(`{"a":`)},
		{"trailing junk", "after", withHeader(`{} x`)},
		{"gap", "contiguous", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, append(four, four...)...)},
		{"overlap", "contiguous", withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, append(four, four...)...)},
		{"data after", "after the last", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, append(four, 0)...)},
		{"size vs shape", "bytes, but", withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four...)},
		{"past end", "outside", withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, four...)},
		{"reversed offsets", "outside", withHeader(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,-4]}}`, four...)},
		{"dtype", "not supported", withHeader(`{"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}`, four...)},
		{"duplicate", "twice", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four...)},
		{"unknown field", "unknown field", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, four...)},
		{"three offsets", "want 2", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}`, four...)},
		{"negative dim", "does not fit", withHeader(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, four...)},
		{"huge dims", "does not fit", withHeader(`{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}`, four...)},
		{"no shape", "no shape", withHeader(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, four...)},
		{"metadata not strings", "__metadata__", withHeader(`{"__metadata__":{"a":1}}`)},
	}
	for _, c := range cases {
		_, err := Read(c.data)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want ErrInvalid mentioning %q", c.name, err, c.msg)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	for _, f := range []*File{
		{Tensors: []Tensor{{Name: "a", Shape: []int{2}, Data: []float32{1}}}},
		{Tensors: []Tensor{{Name: "", Shape: []int{1}, Data: []float32{1}}}},
		{Tensors: []Tensor{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}}},
		{Tensors: []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}}},
	} {
		if err := Write(&bytes.Buffer{}, f); err == nil {
			t.Errorf("Write accepted %+v", f.Tensors)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(handBuilt())
	f.Add(withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 1, 2, 3, 4))
	f.Add(withHeader(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Read(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, g); err != nil {
			t.Fatalf("cannot write what was read: %v", err)
		}
		h, err := Read(buf.Bytes())
		if err != nil {
			t.Fatalf("cannot read what was written: %v", err)
		}
		if len(h.Tensors) != len(g.Tensors) {
			t.Fatalf("%d tensors, then %d", len(g.Tensors), len(h.Tensors))
		}
		for i := range g.Tensors {
			a, b := g.Tensors[i], h.Tensors[i]
			if a.Name != b.Name || !slices.Equal(a.Shape, b.Shape) {
				t.Fatalf("tensor %d: %s %v, then %s %v", i, a.Name, a.Shape, b.Name, b.Shape)
			}
			for j := range a.Data {
				if math.Float32bits(a.Data[j]) != math.Float32bits(b.Data[j]) {
					t.Fatalf("%s[%d] changed", a.Name, j)
				}
			}
		}
	})
}
