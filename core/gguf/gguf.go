package gguf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"

	"github.com/austen-diffusion/textdiffusion/core/quant"
)

// The layout of a GGUF v3 file (ggml's docs/gguf.md), all little-endian:
//
//	"GGUF" | version u32 | n_tensors u64 | n_kv u64
//	n_kv      × key string | value type u32 | value
//	n_tensors × name string | n_dims u32 | dims u64[n_dims] | ggml type u32 | offset u64
//	zero padding to the alignment, then the data: each tensor at its offset (relative
//	to the start of the data), each padded to the alignment.
//
// A string is a u64 byte count and the bytes (no terminator); an array is an element
// type u32, a u64 count and the elements.
const (
	Version          = 3
	DefaultAlignment = 32 // when general.alignment is absent
	AlignmentKey     = "general.alignment"
	maxDims          = 4  // GGML_MAX_DIMS
	maxNameLen       = 63 // GGML_MAX_NAME less the terminator
)

var magic = []byte("GGUF")

// ValueType is the type tag of a metadata value.
type ValueType uint32

const (
	TypeUint8 ValueType = iota
	TypeInt8
	TypeUint16
	TypeInt16
	TypeUint32
	TypeInt32
	TypeFloat32
	TypeBool
	TypeString
	TypeArray
	TypeUint64
	TypeInt64
	TypeFloat64
)

// KV is one metadata entry. Value is one of uint8, int8, uint16, int16, uint32,
// int32, float32, bool, string, uint64, int64, float64, or a slice of one of them,
// which is a GGUF array. The reader returns the same Go types, so a file read and
// written again has the same entries.
type KV struct {
	Key   string
	Value any
}

// TensorType is ggml's type id of a tensor's data. Only the types this project
// stores are known.
type TensorType uint32

const (
	F32  TensorType = 0
	F16  TensorType = 1
	Q4_0 TensorType = 2
	Q8_0 TensorType = 8
)

func (t TensorType) String() string {
	switch t {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case Q4_0:
		return "Q4_0"
	case Q8_0:
		return "Q8_0"
	}
	return fmt.Sprintf("ggml_type(%d)", uint32(t))
}

// Tensor is one tensor. Dims are in ggml order: Dims[0] is the contiguous
// dimension, so a row-major (rows, cols) matrix has Dims {cols, rows}. Data holds
// the values (little-endian f32 or f16) or the ggml blocks, rows of Dims[0] values.
type Tensor struct {
	Name string
	Dims []uint64
	Type TensorType
	Data []byte
}

// File is a GGUF file in memory, entries and tensors in file order.
type File struct {
	KV      []KV
	Tensors []Tensor
}

// Get returns the value of key, or nil.
func (f *File) Get(key string) any {
	for _, kv := range f.KV {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// ErrFormat wraps every error of Parse.
var ErrFormat = errors.New("gguf")

// ByteSize returns the data size of a tensor of type t and dims, or an error for an
// unknown type, a count that overflows, or block types whose rows are not whole
// blocks of 32.
func ByteSize(t TensorType, dims []uint64) (uint64, error) {
	n := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > 1<<56 {
			return 0, fmt.Errorf("dims %v have too many elements", dims)
		}
		n = lo
	}
	switch t {
	case F32:
		return 4 * n, nil
	case F16:
		return 2 * n, nil
	case Q8_0, Q4_0:
		if len(dims) == 0 || dims[0]%quant.QK != 0 {
			return 0, fmt.Errorf("%s needs dims[0] of %v to be a multiple of %d", t, dims, quant.QK)
		}
		if t == Q8_0 {
			return n / quant.QK * quant.BlockSizeQ8_0, nil
		}
		return n / quant.QK * quant.BlockSizeQ4_0, nil
	}
	return 0, fmt.Errorf("unknown tensor type %s", t)
}

// alignment returns general.alignment (a power of two, as a uint32) or the default.
func alignment(kvs []KV) (uint64, error) {
	for _, kv := range kvs {
		if kv.Key != AlignmentKey {
			continue
		}
		a, ok := kv.Value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return 0, fmt.Errorf("%s is %T(%v), want a uint32 power of two", AlignmentKey, kv.Value, kv.Value)
		}
		return uint64(a), nil
	}
	return DefaultAlignment, nil
}

func pad(n, align uint64) uint64 { return (n + align - 1) / align * align }

// Write writes f as a GGUF v3 file: the entries and tensors in f's order, the data
// aligned to general.alignment (32 when absent). It refuses duplicate keys or
// tensor names, unsupported value types, and data whose length does not match its
// type and dims.
func Write(w io.Writer, f *File) error {
	align, err := alignment(f.KV)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.Write(magic)
	le := binary.LittleEndian
	b.Write(le.AppendUint32(nil, Version))
	b.Write(le.AppendUint64(nil, uint64(len(f.Tensors))))
	b.Write(le.AppendUint64(nil, uint64(len(f.KV))))
	keys := make(map[string]bool, len(f.KV))
	for _, kv := range f.KV {
		if keys[kv.Key] {
			return fmt.Errorf("gguf: duplicate key %q", kv.Key)
		}
		keys[kv.Key] = true
		writeString(&b, kv.Key)
		if err := writeValue(&b, kv.Value); err != nil {
			return fmt.Errorf("gguf: key %q: %v", kv.Key, err)
		}
	}
	names := make(map[string]bool, len(f.Tensors))
	var offset uint64
	for _, t := range f.Tensors {
		if names[t.Name] || len(t.Name) > maxNameLen || t.Name == "" {
			return fmt.Errorf("gguf: tensor name %q is empty, longer than %d bytes or repeated", t.Name, maxNameLen)
		}
		names[t.Name] = true
		if len(t.Dims) == 0 || len(t.Dims) > maxDims {
			return fmt.Errorf("gguf: tensor %q has %d dims (1 to %d)", t.Name, len(t.Dims), maxDims)
		}
		size, err := ByteSize(t.Type, t.Dims)
		if err != nil {
			return fmt.Errorf("gguf: tensor %q: %v", t.Name, err)
		}
		if uint64(len(t.Data)) != size {
			return fmt.Errorf("gguf: tensor %q has %d data bytes, %s %v needs %d", t.Name, len(t.Data), t.Type, t.Dims, size)
		}
		writeString(&b, t.Name)
		b.Write(le.AppendUint32(nil, uint32(len(t.Dims))))
		for _, d := range t.Dims {
			b.Write(le.AppendUint64(nil, d))
		}
		b.Write(le.AppendUint32(nil, uint32(t.Type)))
		b.Write(le.AppendUint64(nil, offset))
		offset += pad(size, align)
	}
	b.Write(make([]byte, pad(uint64(b.Len()), align)-uint64(b.Len())))
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	for _, t := range f.Tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
		if _, err := w.Write(make([]byte, pad(uint64(len(t.Data)), align)-uint64(len(t.Data)))); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes f to path (see Write); on an error the partial file is removed
// and the error names path.
func WriteFile(path string, f *File) (err error) {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			err = fmt.Errorf("%s: %w", path, err)
		}
	}()
	w := bufio.NewWriterSize(out, 1<<20)
	if err = Write(w, f); err != nil {
		return err
	}
	return w.Flush()
}

func writeString(b *bytes.Buffer, s string) {
	b.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(s))))
	b.WriteString(s)
}

// writeValue writes the type tag and the value.
func writeValue(b *bytes.Buffer, v any) error {
	le := binary.LittleEndian
	tag := func(t ValueType) { b.Write(le.AppendUint32(nil, uint32(t))) }
	array := func(t ValueType, n int) {
		tag(TypeArray)
		tag(t)
		b.Write(le.AppendUint64(nil, uint64(n)))
	}
	switch x := v.(type) {
	case uint8:
		tag(TypeUint8)
		b.WriteByte(x)
	case int8:
		tag(TypeInt8)
		b.WriteByte(byte(x))
	case uint16:
		tag(TypeUint16)
		b.Write(le.AppendUint16(nil, x))
	case int16:
		tag(TypeInt16)
		b.Write(le.AppendUint16(nil, uint16(x)))
	case uint32:
		tag(TypeUint32)
		b.Write(le.AppendUint32(nil, x))
	case int32:
		tag(TypeInt32)
		b.Write(le.AppendUint32(nil, uint32(x)))
	case float32:
		tag(TypeFloat32)
		b.Write(le.AppendUint32(nil, math.Float32bits(x)))
	case bool:
		tag(TypeBool)
		b.WriteByte(boolByte(x))
	case string:
		tag(TypeString)
		writeString(b, x)
	case uint64:
		tag(TypeUint64)
		b.Write(le.AppendUint64(nil, x))
	case int64:
		tag(TypeInt64)
		b.Write(le.AppendUint64(nil, uint64(x)))
	case float64:
		tag(TypeFloat64)
		b.Write(le.AppendUint64(nil, math.Float64bits(x)))
	case []uint8:
		array(TypeUint8, len(x))
		b.Write(x)
	case []int8:
		array(TypeInt8, len(x))
		for _, e := range x {
			b.WriteByte(byte(e))
		}
	case []uint16:
		array(TypeUint16, len(x))
		for _, e := range x {
			b.Write(le.AppendUint16(nil, e))
		}
	case []int16:
		array(TypeInt16, len(x))
		for _, e := range x {
			b.Write(le.AppendUint16(nil, uint16(e)))
		}
	case []uint32:
		array(TypeUint32, len(x))
		for _, e := range x {
			b.Write(le.AppendUint32(nil, e))
		}
	case []int32:
		array(TypeInt32, len(x))
		for _, e := range x {
			b.Write(le.AppendUint32(nil, uint32(e)))
		}
	case []float32:
		array(TypeFloat32, len(x))
		for _, e := range x {
			b.Write(le.AppendUint32(nil, math.Float32bits(e)))
		}
	case []bool:
		array(TypeBool, len(x))
		for _, e := range x {
			b.WriteByte(boolByte(e))
		}
	case []string:
		array(TypeString, len(x))
		for _, e := range x {
			writeString(b, e)
		}
	case []uint64:
		array(TypeUint64, len(x))
		for _, e := range x {
			b.Write(le.AppendUint64(nil, e))
		}
	case []int64:
		array(TypeInt64, len(x))
		for _, e := range x {
			b.Write(le.AppendUint64(nil, uint64(e)))
		}
	case []float64:
		array(TypeFloat64, len(x))
		for _, e := range x {
			b.Write(le.AppendUint64(nil, math.Float64bits(e)))
		}
	default:
		return fmt.Errorf("value of Go type %T has no GGUF type", v)
	}
	return nil
}

func boolByte(x bool) byte {
	if x {
		return 1
	}
	return 0
}
