package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"

	"github.com/austen-diffusion/textdiffusion/core/quant"
)

// File layout: an 8-byte little-endian header length N, N bytes of JSON
// header (an object: tensor name -> {"dtype", "shape", "data_offsets":
// [begin, end)} relative to the data section, plus an optional
// "__metadata__" string map; it may be padded with trailing spaces), then
// the data section, the tensors back to back, row-major, little-endian.

// MaxHeader bounds the JSON header, as the reference implementation does.
const MaxHeader = 100_000_000

// ErrInvalid is wrapped by every error about a malformed file.
var ErrInvalid = errors.New("invalid safetensors file")

// Tensor is one named float32 array, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// File is the content of a safetensors file.
type File struct {
	Tensors  []Tensor          // in data order
	Metadata map[string]string // the "__metadata__" entry, or nil
}

// Tensor returns the tensor with this name, or nil.
func (f *File) Tensor(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}

type entry struct {
	DType   string  `json:"dtype"`
	Shape   []int   `json:"shape"`
	Offsets []int64 `json:"data_offsets"`
	name    string
}

var dtypeSize = map[string]int64{"F32": 4, "F16": 2, "BF16": 2}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Read parses a whole safetensors file. Tensors stored as F16 or BF16 are
// widened to float32 exactly; other dtypes are refused.
func Read(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, invalid("%d bytes, shorter than the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeader {
		return nil, invalid("header of %d bytes (limit %d)", n, MaxHeader)
	}
	if n > uint64(len(data)-8) {
		return nil, invalid("header of %d bytes, only %d present", n, len(data)-8)
	}
	entries, meta, err := parseHeader(data[8 : 8+n])
	if err != nil {
		return nil, err
	}
	buf := data[8+n:]
	// Tensors must tile the data section exactly: sorted by offset, each
	// starting where the previous ended, the last ending at the end.
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Offsets[0] < entries[j].Offsets[0] })
	var pos int64
	for _, e := range entries {
		size, ok := dtypeSize[e.DType]
		if !ok {
			return nil, invalid("tensor %q: dtype %q not supported (F32, F16, BF16)", e.name, e.DType)
		}
		count := int64(1)
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && count > int64(len(buf))/int64(d)) {
				return nil, invalid("tensor %q: shape %v does not fit in %d data bytes", e.name, e.Shape, len(buf))
			}
			count *= int64(d)
		}
		b, end := e.Offsets[0], e.Offsets[1]
		if b != pos {
			return nil, invalid("tensor %q starts at byte %d, expected %d (offsets must be contiguous)", e.name, b, pos)
		}
		if end < b || end > int64(len(buf)) {
			return nil, invalid("tensor %q: data_offsets [%d, %d] outside the %d-byte data section", e.name, b, end, len(buf))
		}
		if end-b != count*size {
			return nil, invalid("tensor %q: %d bytes, but %v %s is %d bytes", e.name, end-b, e.Shape, e.DType, count*size)
		}
		pos = end
	}
	if pos != int64(len(buf)) {
		return nil, invalid("%d bytes of data after the last tensor", int64(len(buf))-pos)
	}
	f := &File{Metadata: meta, Tensors: make([]Tensor, len(entries))}
	for i, e := range entries {
		raw := buf[e.Offsets[0]:e.Offsets[1]]
		t := Tensor{Name: e.name, Shape: e.Shape, Data: make([]float32, int64(len(raw))/dtypeSize[e.DType])}
		switch e.DType {
		case "F32":
			for j := range t.Data {
				t.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			}
		case "F16":
			quant.DecodeF16(t.Data, raw)
		case "BF16":
			for j := range t.Data {
				t.Data[j] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*j:])) << 16)
			}
		}
		f.Tensors[i] = t
	}
	return f, nil
}

// parseHeader reads the header object in file order, refusing duplicate
// names, unknown fields and anything after the object but spaces.
func parseHeader(h []byte) ([]entry, map[string]string, error) {
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, invalid("header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.DisallowUnknownFields()
	if _, err := dec.Token(); err != nil {
		return nil, nil, invalid("header: %v", err)
	}
	var entries []entry
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, invalid("header: %v", err)
		}
		name, _ := tok.(string) // keys of an object are strings
		if seen[name] {
			return nil, nil, invalid("header: %q appears twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, invalid("header: __metadata__: %v", err)
			}
			continue
		}
		var e entry
		if err := dec.Decode(&e); err != nil {
			return nil, nil, invalid("header: tensor %q: %v", name, err)
		}
		if len(e.Offsets) != 2 {
			return nil, nil, invalid("tensor %q: data_offsets has %d numbers, want 2", name, len(e.Offsets))
		}
		if e.DType == "" || e.Shape == nil {
			return nil, nil, invalid("tensor %q: no dtype or no shape", name)
		}
		e.name = name
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, invalid("header: %v", err)
	}
	rest := h[dec.InputOffset():]
	if len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return nil, nil, invalid("header: %d bytes after the JSON object", len(rest))
	}
	return entries, meta, nil
}

// Write writes tensors (F32) in the order given, with the header padded
// with spaces to a multiple of 8 bytes so the data section is aligned.
func Write(w io.Writer, f *File) error {
	var h bytes.Buffer
	h.WriteByte('{')
	if f.Metadata != nil {
		js, err := json.Marshal(f.Metadata)
		if err != nil {
			return err
		}
		h.WriteString(`"__metadata__":`)
		h.Write(js)
	}
	var off int64
	seen := map[string]bool{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Name == "" || t.Name == "__metadata__" || seen[t.Name] {
			return fmt.Errorf("safetensors: tensor %d: empty, reserved or repeated name %q", i, t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %q: negative dimension in %v", t.Name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: shape %v needs %d values, has %d", t.Name, t.Shape, n, len(t.Data))
		}
		if h.Len() > 1 {
			h.WriteByte(',')
		}
		name, _ := json.Marshal(t.Name)
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		sh, _ := json.Marshal(shape)
		end := off + 4*int64(n)
		fmt.Fprintf(&h, `%s:{"dtype":"F32","shape":%s,"data_offsets":[%s,%s]}`, name, sh, strconv.FormatInt(off, 10), strconv.FormatInt(end, 10))
		off = end
	}
	h.WriteByte('}')
	for (8+h.Len())%8 != 0 {
		h.WriteByte(' ')
	}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(h.Len()))
	if _, err := w.Write(lenb[:]); err != nil {
		return err
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return err
	}
	buf := make([]byte, 0, min(1<<16, off))
	for _, t := range f.Tensors {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) >= cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err := w.Write(buf)
	return err
}

// Load reads the file at path; errors name the path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Read(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Save writes f to path (via a temporary file and a rename).
func Save(path string, f *File) error {
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
