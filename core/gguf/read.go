package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// ReadFile reads and parses a GGUF file; errors name the file.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse reads a GGUF v3 file as strictly as llama.cpp's loader: known value types
// only (no nested arrays), bools 0 or 1, unique keys and tensor names, 1 to 4 dims,
// known tensor types, and each tensor at the offset that packing the previous ones
// at the alignment gives. Counts are checked against the bytes left before anything
// is allocated, so a hostile header cannot make Parse allocate more than the input's
// size. Tensor data aliases data. Every error wraps ErrFormat.
func Parse(data []byte) (*File, error) {
	r := &reader{data: data}
	f, err := r.file()
	if err != nil {
		return nil, fmt.Errorf("%w: at byte %d: %v", ErrFormat, r.pos, err)
	}
	return f, nil
}

type reader struct {
	data []byte
	pos  int
}

// take returns the next n bytes.
func (r *reader) take(n uint64) ([]byte, error) {
	if n > uint64(len(r.data)-r.pos) {
		return nil, fmt.Errorf("truncated: need %d bytes, %d left", n, len(r.data)-r.pos)
	}
	b := r.data[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}

func (r *reader) u8() (uint8, error) {
	b, err := r.take(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (r *reader) u16() (uint16, error) {
	b, err := r.take(2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

func (r *reader) u32() (uint32, error) {
	b, err := r.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *reader) u64() (uint64, error) {
	b, err := r.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (r *reader) str() (string, error) {
	n, err := r.u64()
	if err != nil {
		return "", err
	}
	b, err := r.take(n)
	return string(b), err
}

func (r *reader) boolean() (bool, error) {
	v, err := r.u8()
	if err == nil && v > 1 {
		err = fmt.Errorf("bool byte %d is neither 0 nor 1", v)
	}
	return v == 1, err
}

// count reads an element count and checks that n elements of at least min bytes
// each fit in what is left.
func (r *reader) count(min uint64) (uint64, error) {
	n, err := r.u64()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(r.data)-r.pos)/min {
		return 0, fmt.Errorf("count %d does not fit in the %d bytes left", n, len(r.data)-r.pos)
	}
	return n, nil
}

func (r *reader) file() (*File, error) {
	m, err := r.take(4)
	if err != nil {
		return nil, err
	}
	if string(m) != string(magic) {
		return nil, fmt.Errorf("magic %q is not GGUF", m)
	}
	v, err := r.u32()
	if err != nil {
		return nil, err
	}
	if v != Version {
		return nil, fmt.Errorf("version %d (only %d is read)", v, Version)
	}
	nt, err := r.u64()
	if err != nil {
		return nil, err
	}
	// A tensor info is at least 8+4+8+4+8 bytes, an entry at least 8+4+1.
	if nt > uint64(len(r.data)-r.pos)/32 {
		return nil, fmt.Errorf("tensor count %d does not fit in the file", nt)
	}
	nkv, err := r.count(13)
	if err != nil {
		return nil, err
	}
	f := &File{KV: make([]KV, 0, nkv), Tensors: make([]Tensor, 0, nt)}
	keys := make(map[string]bool, nkv)
	for range nkv {
		k, err := r.str()
		if err != nil {
			return nil, err
		}
		if keys[k] {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		keys[k] = true
		t, err := r.u32()
		if err != nil {
			return nil, err
		}
		v, err := r.value(ValueType(t))
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", k, err)
		}
		f.KV = append(f.KV, KV{k, v})
	}
	align, err := alignment(f.KV)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, nt)
	offsets, sizes := make([]uint64, nt), make([]uint64, nt)
	var next uint64
	for i := range nt {
		name, err := r.str()
		if err != nil {
			return nil, err
		}
		if names[name] || name == "" || len(name) > maxNameLen {
			return nil, fmt.Errorf("tensor name %q is empty, longer than %d bytes or repeated", name, maxNameLen)
		}
		names[name] = true
		nd, err := r.u32()
		if err != nil {
			return nil, err
		}
		if nd == 0 || nd > maxDims {
			return nil, fmt.Errorf("tensor %q has %d dims (1 to %d)", name, nd, maxDims)
		}
		dims := make([]uint64, nd)
		for j := range dims {
			if dims[j], err = r.u64(); err != nil {
				return nil, err
			}
		}
		tt, err := r.u32()
		if err != nil {
			return nil, err
		}
		size, err := ByteSize(TensorType(tt), dims)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", name, err)
		}
		if offsets[i], err = r.u64(); err != nil {
			return nil, err
		}
		if offsets[i] != next {
			return nil, fmt.Errorf("tensor %q at offset %d, expected %d", name, offsets[i], next)
		}
		if size > uint64(len(r.data)) {
			return nil, fmt.Errorf("tensor %q needs %d bytes, more than the file", name, size)
		}
		next += pad(size, align)
		sizes[i] = size
		f.Tensors = append(f.Tensors, Tensor{Name: name, Dims: dims, Type: TensorType(tt)})
	}
	start := pad(uint64(r.pos), align)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		n := sizes[i]
		if start+offsets[i]+n > uint64(len(r.data)) {
			r.pos = len(r.data)
			return nil, fmt.Errorf("tensor %q data (%d bytes at %d) runs past the end of the file", t.Name, n, start+offsets[i])
		}
		t.Data = r.data[start+offsets[i] : start+offsets[i]+n : start+offsets[i]+n]
	}
	return f, nil
}

func (r *reader) i8() (int8, error)   { v, err := r.u8(); return int8(v), err }
func (r *reader) i16() (int16, error) { v, err := r.u16(); return int16(v), err }
func (r *reader) i32() (int32, error) { v, err := r.u32(); return int32(v), err }
func (r *reader) i64() (int64, error) { v, err := r.u64(); return int64(v), err }
func (r *reader) f32() (float32, error) {
	v, err := r.u32()
	return math.Float32frombits(v), err
}
func (r *reader) f64() (float64, error) {
	v, err := r.u64()
	return math.Float64frombits(v), err
}

// value reads a value of type t; an array is read by array.
func (r *reader) value(t ValueType) (any, error) {
	switch t {
	case TypeUint8:
		return r.u8()
	case TypeInt8:
		return r.i8()
	case TypeUint16:
		return r.u16()
	case TypeInt16:
		return r.i16()
	case TypeUint32:
		return r.u32()
	case TypeInt32:
		return r.i32()
	case TypeFloat32:
		return r.f32()
	case TypeBool:
		return r.boolean()
	case TypeString:
		return r.str()
	case TypeUint64:
		return r.u64()
	case TypeInt64:
		return r.i64()
	case TypeFloat64:
		return r.f64()
	case TypeArray:
		return r.array()
	}
	return nil, fmt.Errorf("unknown value type %d", t)
}

// array reads an array's element type, count and elements into a typed slice;
// the count is checked against the bytes left (strings take at least 8 each).
func (r *reader) array() (any, error) {
	et, err := r.u32()
	if err != nil {
		return nil, err
	}
	switch ValueType(et) {
	case TypeUint8:
		return readArray(r, 1, r.u8)
	case TypeInt8:
		return readArray(r, 1, r.i8)
	case TypeUint16:
		return readArray(r, 2, r.u16)
	case TypeInt16:
		return readArray(r, 2, r.i16)
	case TypeUint32:
		return readArray(r, 4, r.u32)
	case TypeInt32:
		return readArray(r, 4, r.i32)
	case TypeFloat32:
		return readArray(r, 4, r.f32)
	case TypeBool:
		return readArray(r, 1, r.boolean)
	case TypeString:
		return readArray(r, 8, r.str)
	case TypeUint64:
		return readArray(r, 8, r.u64)
	case TypeInt64:
		return readArray(r, 8, r.i64)
	case TypeFloat64:
		return readArray(r, 8, r.f64)
	}
	return nil, fmt.Errorf("array of value type %d is not supported", et)
}

func readArray[T any](r *reader, size uint64, read func() (T, error)) ([]T, error) {
	n, err := r.count(size)
	if err != nil {
		return nil, err
	}
	out := make([]T, n)
	for i := range out {
		if out[i], err = read(); err != nil {
			return nil, fmt.Errorf("element %d: %v", i, err)
		}
	}
	return out, nil
}
