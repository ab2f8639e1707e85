package checkpoint

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/quant"
)

// Tensor is one named array. Exactly one of F32 (DType F32) and Raw (any
// other dtype: little-endian halves or Q8_0/Q4_0 blocks, blocks running along
// the flattened tensor) holds its values.
type Tensor struct {
	Name  string
	Shape []int
	DType DType
	F32   []float32
	Raw   []byte
}

// File is a checkpoint or release file in memory. Optimizer moments and
// anything else the trainer keeps are extra tensors (e.g. "adam.m.<name>");
// Config and State are opaque JSON owned by the caller.
type File struct {
	Config    json.RawMessage   // model config
	Tokenizer []byte            // tokenizer.json, or nil
	Tensors   []Tensor          // in file order
	State     json.RawMessage   // training state (step, RNG, data position...), or nil
	Notes     map[string]string // free-form, e.g. which tensors kept higher precision
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

// Len returns the number of elements (0 for a shape with a negative or
// overflowing dimension).
func (t *Tensor) Len() int {
	n, err := numel(t.Shape)
	if err != nil {
		return 0
	}
	return int(n)
}

// check returns the tensor's payload size, or why its data does not match
// its shape and dtype.
func (t *Tensor) check() (int64, error) {
	n, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if t.DType == F32 {
		if int64(len(t.F32))*4 != n || t.Raw != nil {
			return 0, fmt.Errorf("%w: tensor %q: shape %v needs %d float32 values in F32 (and no Raw), has %d", ErrShape, t.Name, t.Shape, n/4, len(t.F32))
		}
		return n, nil
	}
	if int64(len(t.Raw)) != n || t.F32 != nil {
		return 0, fmt.Errorf("%w: tensor %q: %v %s needs %d bytes in Raw (and no F32), has %d", ErrShape, t.Name, t.Shape, t.DType, n, len(t.Raw))
	}
	return n, nil
}

// Float32 returns the tensor's values as float32, dequantizing if needed
// (bit-identical to the quant package's reference). For an F32 tensor it
// returns t.F32 itself.
func (t *Tensor) Float32() ([]float32, error) {
	if _, err := t.check(); err != nil {
		return nil, err
	}
	if t.DType == F32 {
		return t.F32, nil
	}
	out := make([]float32, t.Len())
	return out, t.Float32Into(out)
}

// Float32Into writes the tensor's values into dst, which must hold exactly Len values,
// dequantizing as Float32 does but without a copy of its own: a model loads straight
// into its parameter arena.
func (t *Tensor) Float32Into(dst []float32) error {
	if _, err := t.check(); err != nil {
		return err
	}
	if len(dst) != t.Len() {
		return fmt.Errorf("%w: tensor %q has %d values, destination %d", ErrShape, t.Name, t.Len(), len(dst))
	}
	switch t.DType {
	case F32:
		copy(dst, t.F32)
	case F16:
		quant.DecodeF16(dst, t.Raw)
	case Q8_0:
		quant.DequantizeQ8_0Fast(dst, t.Raw)
	case Q4_0:
		quant.DequantizeQ4_0Fast(dst, t.Raw)
	}
	return nil
}

// Load reads and decodes the file at path; errors name the path.
func Load(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > HeaderSize+MaxManifest+MaxPayload {
		return nil, fmt.Errorf("%s: %w: file of %d bytes", path, ErrTooLarge, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// saveHook, when set (by tests), wraps the writer Save encodes into.
var saveHook func(io.Writer) io.Writer

// Save writes f to path atomically: into a temporary file in the same
// directory, fsynced, then renamed over path, then the directory fsynced
// where the OS allows. A failure at any point leaves an existing file at
// path untouched.
func Save(path string, f *File) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("%s: %w", path, err)
		}
	}()
	var w io.Writer = tmp
	if saveHook != nil {
		w = saveHook(w)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err = Encode(bw, f); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; some systems cannot sync a directory,
	// and by now the new file is in place either way.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func putFloat32(b []byte, v float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(v)) }

func float32frombytes(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// tempPrefix starts the name of Save's temporary file for path, in path's folder;
// os.CreateTemp ends it with decimal digits.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// RemoveTemps removes the temporary files that Save(path) left behind when its process
// died between creating one and renaming it over path (SIGKILL, power loss): exactly the
// names Save makes (its prefix, then digits), regular files in path's folder, nothing
// else. It returns the names removed. Call it only while no other process saves to path
// (a training run owns its folder).
func RemoveTemps(path string) ([]string, error) {
	dir, prefix := filepath.Dir(path), tempPrefix(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		digits, ok := strings.CutPrefix(name, prefix)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}
