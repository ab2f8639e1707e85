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
	putU32(&b, Version)
	putU64(&b, uint64(len(f.Tensors)))
	putU64(&b, uint64(len(f.KV)))
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
		putU32(&b, uint32(len(t.Dims)))
		for _, d := range t.Dims {
			putU64(&b, d)
		}
		putU32(&b, uint32(t.Type))
		putU64(&b, offset)
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
	putU64(b, uint64(len(s)))
	b.WriteString(s)
}

// writeValue writes the type tag and the value.
func writeValue(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case uint8:
		scalar(b, TypeUint8, x, putU8)
	case int8:
		scalar(b, TypeInt8, x, putI8)
	case uint16:
		scalar(b, TypeUint16, x, putU16)
	case int16:
		scalar(b, TypeInt16, x, putI16)
	case uint32:
		scalar(b, TypeUint32, x, putU32)
	case int32:
		scalar(b, TypeInt32, x, putI32)
	case float32:
		scalar(b, TypeFloat32, x, putF32)
	case bool:
		scalar(b, TypeBool, x, putBool)
	case string:
		scalar(b, TypeString, x, writeString)
	case uint64:
		scalar(b, TypeUint64, x, putU64)
	case int64:
		scalar(b, TypeInt64, x, putI64)
	case float64:
		scalar(b, TypeFloat64, x, putF64)
	case []uint8:
		array(b, TypeUint8, x, putU8)
	case []int8:
		array(b, TypeInt8, x, putI8)
	case []uint16:
		array(b, TypeUint16, x, putU16)
	case []int16:
		array(b, TypeInt16, x, putI16)
	case []uint32:
		array(b, TypeUint32, x, putU32)
	case []int32:
		array(b, TypeInt32, x, putI32)
	case []float32:
		array(b, TypeFloat32, x, putF32)
	case []bool:
		array(b, TypeBool, x, putBool)
	case []string:
		array(b, TypeString, x, writeString)
	case []uint64:
		array(b, TypeUint64, x, putU64)
	case []int64:
		array(b, TypeInt64, x, putI64)
	case []float64:
		array(b, TypeFloat64, x, putF64)
	default:
		return fmt.Errorf("value of Go type %T has no GGUF type", v)
	}
	return nil
}

func scalar[T any](b *bytes.Buffer, t ValueType, x T, put func(*bytes.Buffer, T)) {
	putU32(b, uint32(t))
	put(b, x)
}

func array[T any](b *bytes.Buffer, t ValueType, xs []T, put func(*bytes.Buffer, T)) {
	putU32(b, uint32(TypeArray))
	putU32(b, uint32(t))
	putU64(b, uint64(len(xs)))
	for _, x := range xs {
		put(b, x)
	}
}

func putU8(b *bytes.Buffer, x uint8)    { b.WriteByte(x) }
func putI8(b *bytes.Buffer, x int8)     { b.WriteByte(byte(x)) }
func putU16(b *bytes.Buffer, x uint16)  { b.Write(binary.LittleEndian.AppendUint16(nil, x)) }
func putI16(b *bytes.Buffer, x int16)   { putU16(b, uint16(x)) }
func putU32(b *bytes.Buffer, x uint32)  { b.Write(binary.LittleEndian.AppendUint32(nil, x)) }
func putI32(b *bytes.Buffer, x int32)   { putU32(b, uint32(x)) }
func putF32(b *bytes.Buffer, x float32) { putU32(b, math.Float32bits(x)) }
func putU64(b *bytes.Buffer, x uint64)  { b.Write(binary.LittleEndian.AppendUint64(nil, x)) }
func putI64(b *bytes.Buffer, x int64)   { putU64(b, uint64(x)) }
func putF64(b *bytes.Buffer, x float64) { putU64(b, math.Float64bits(x)) }
func putBool(b *bytes.Buffer, x bool)   { b.WriteByte(boolByte(x)) }

func boolByte(x bool) byte {
	if x {
		return 1
	}
	return 0
}
