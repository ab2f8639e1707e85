package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// File layout (all integers little-endian):
//
//	magic    [8]byte  "TDIFFCK\x00"
//	version  uint32   1
//	mlen     uint32   manifest length in bytes
//	manifest [mlen]byte JSON (Manifest)
//	payload  zstd frame(s), Manifest.CompressedSize bytes, to the end of the file
//
// The uncompressed payload holds the tensors at the offsets the manifest
// gives; Encode puts each at a multiple of Align bytes.
const (
	Magic      = "TDIFFCK\x00"
	Version    = 1
	HeaderSize = 16

	// Align is WebGPU's minStorageBufferOffsetAlignment: a browser can upload
	// the payload as one buffer and bind each tensor in place.
	Align = 256

	// MaxManifest bounds the JSON manifest (the tokenizer is the bulk of it).
	MaxManifest = 64 << 20
	// MaxPayload bounds the uncompressed payload.
	MaxPayload = 4 << 30
	// A payload may declare at most MaxRatio*compressed+RatioSlack bytes, so
	// a small file cannot make Decode allocate much: real weights compress
	// about 1.1:1, zero-initialised optimizer moments next to them about 3:1.
	// Only a file that is almost all zeros goes beyond, and Encode refuses it.
	MaxRatio   = 64
	RatioSlack = 1 << 20
)

// Manifest is the JSON header of a file.
type Manifest struct {
	Format         int               `json:"format"`              // equals the header version
	Config         json.RawMessage   `json:"config,omitempty"`    // model config, opaque here
	Tokenizer      string            `json:"tokenizer,omitempty"` // tokenizer.json text
	Tensors        []TensorInfo      `json:"tensors"`
	PayloadSize    int64             `json:"payload_size"`    // uncompressed bytes
	CompressedSize int64             `json:"compressed_size"` // bytes after the manifest
	SHA256         string            `json:"sha256"`          // of the compressed payload, hex
	State          json.RawMessage   `json:"state,omitempty"` // training state, opaque here
	Notes          map[string]string `json:"notes,omitempty"`

	// PayloadOffset is where the compressed payload starts in the file.
	PayloadOffset int64 `json:"-"`
}

// TensorInfo is one entry of the manifest's tensor table.
type TensorInfo struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	DType  DType  `json:"dtype"`
	Offset int64  `json:"offset"` // in the uncompressed payload
	Size   int64  `json:"size"`   // bytes
}

// ReadManifest parses and checks the header and manifest at the start of
// data, which may be the whole file or only a prefix that covers the
// manifest. It checks the manifest on its own (tensor table against the
// declared payload size, size caps) but not the payload: see Verify.
func ReadManifest(data []byte) (*Manifest, error) {
	if len(data) < len(Magic) {
		if bytes.HasPrefix([]byte(Magic), data) {
			return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrTruncated, len(data))
		}
		return nil, ErrNotCheckpoint
	}
	if string(data[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: starts with %q", ErrNotCheckpoint, data[:len(Magic)])
	}
	if len(data) < HeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrTruncated, len(data))
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != Version {
		return nil, fmt.Errorf("%w %d (this build reads version %d)", ErrVersion, v, Version)
	}
	mlen := int64(binary.LittleEndian.Uint32(data[12:]))
	if mlen > MaxManifest {
		return nil, fmt.Errorf("%w: manifest of %d bytes (limit %d)", ErrTooLarge, mlen, MaxManifest)
	}
	if HeaderSize+mlen > int64(len(data)) {
		return nil, fmt.Errorf("%w: manifest of %d bytes, only %d present", ErrTruncated, mlen, int64(len(data))-HeaderSize)
	}
	m := new(Manifest)
	if err := decodeManifest(data[HeaderSize:HeaderSize+mlen], m); err != nil {
		if errors.Is(err, ErrUnknownDType) {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	m.PayloadOffset = HeaderSize + mlen
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeManifest reads a manifest's JSON into m: its tokenizer string by cutTokenizer
// where that can, the rest by encoding/json.
func decodeManifest(b []byte, m *Manifest) error {
	rest, tok, ok := cutTokenizer(b)
	if !ok {
		return json.Unmarshal(b, m)
	}
	if err := json.Unmarshal(rest, m); err != nil {
		return err
	}
	m.Tokenizer = tok
	return nil
}

// check validates a manifest on its own.
func (m *Manifest) check() error {
	if m.Format != Version {
		return fmt.Errorf("%w: manifest says format %d, header says %d", ErrVersion, m.Format, Version)
	}
	if m.PayloadSize < 0 || m.CompressedSize < 0 {
		return fmt.Errorf("%w: negative payload size", ErrCorrupt)
	}
	if m.PayloadSize > MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes (limit %d)", ErrTooLarge, m.PayloadSize, int64(MaxPayload))
	}
	if m.CompressedSize > MaxPayload {
		return fmt.Errorf("%w: compressed payload of %d bytes (limit %d)", ErrTooLarge, m.CompressedSize, int64(MaxPayload))
	}
	if lim := MaxRatio*m.CompressedSize + RatioSlack; m.PayloadSize > lim {
		return fmt.Errorf("%w: payload of %d bytes from %d compressed (limit %d:1 plus %d)", ErrTooLarge, m.PayloadSize, m.CompressedSize, MaxRatio, RatioSlack)
	}
	if h, err := hex.DecodeString(m.SHA256); err != nil || len(h) != sha256.Size {
		return fmt.Errorf("%w: sha256 %q is not 64 hex digits", ErrCorrupt, m.SHA256)
	}
	seen := make(map[string]bool, len(m.Tensors))
	for i := range m.Tensors {
		t := &m.Tensors[i]
		if t.Name == "" {
			return fmt.Errorf("%w: tensor %d has no name", ErrCorrupt, i)
		}
		if seen[t.Name] {
			return fmt.Errorf("%w: tensor %q appears twice", ErrCorrupt, t.Name)
		}
		seen[t.Name] = true
		want, err := byteSize(t.DType, t.Shape)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if t.Size != want {
			return fmt.Errorf("%w: tensor %q: %d bytes, but %v %s is %d bytes", ErrShape, t.Name, t.Size, t.Shape, t.DType, want)
		}
		if t.Offset < 0 || t.Offset > m.PayloadSize-t.Size {
			return fmt.Errorf("%w: tensor %q: bytes [%d, %d) outside the %d-byte payload", ErrShape, t.Name, t.Offset, t.Offset+t.Size, m.PayloadSize)
		}
	}
	// No two tensors may share bytes.
	idx := make([]int, len(m.Tensors))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return m.Tensors[idx[a]].Offset < m.Tensors[idx[b]].Offset })
	var end int64 // the furthest byte any earlier tensor reaches
	var last string
	for _, i := range idx {
		t := &m.Tensors[i]
		if t.Size == 0 {
			continue
		}
		if t.Offset < end {
			return fmt.Errorf("%w: tensors %q and %q overlap", ErrShape, last, t.Name)
		}
		end, last = t.Offset+t.Size, t.Name
	}
	return nil
}

// Verify checks a whole file's header, manifest, size and payload hash,
// without decompressing, and returns the manifest.
func Verify(data []byte) (*Manifest, error) {
	m, err := readSized(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data[m.PayloadOffset:])
	if got := hex.EncodeToString(sum[:]); got != m.SHA256 {
		return nil, fmt.Errorf("%w: manifest says %s, payload is %s", ErrHash, m.SHA256, got)
	}
	return m, nil
}

// readSized is ReadManifest for a whole file: it also checks that the payload
// is exactly as long as the manifest says.
func readSized(data []byte) (*Manifest, error) {
	m, err := ReadManifest(data)
	if err != nil {
		return nil, err
	}
	have := int64(len(data)) - m.PayloadOffset
	if have < m.CompressedSize {
		return nil, fmt.Errorf("%w: payload of %d bytes, only %d present", ErrTruncated, m.CompressedSize, have)
	}
	if have > m.CompressedSize {
		return nil, fmt.Errorf("%w: %d bytes after the %d-byte payload", ErrCorrupt, have-m.CompressedSize, m.CompressedSize)
	}
	return m, nil
}

// Decode reads a whole file from memory. Quantized and f16 tensors' Raw
// slices point into one decompressed payload buffer.
func Decode(data []byte) (*File, error) {
	m, err := Verify(data)
	if err != nil {
		return nil, err
	}
	return decodePayload(data, m)
}

// DecodeChecked is Decode without the payload's hash, for bytes the caller has
// already checked against a hash of the whole file that it trusts (the page
// checks the release file's SHA-256 from the site's asset list in the
// browser, natively and far faster than Go's SHA-256 in WebAssembly). It
// still checks the header, the manifest, the sizes and the decompression.
func DecodeChecked(data []byte) (*File, error) {
	m, err := readSized(data)
	if err != nil {
		return nil, err
	}
	return decodePayload(data, m)
}

// decodePayload decompresses the payload of data, whose manifest is m, and
// builds the File.
func decodePayload(data []byte, m *Manifest) (*File, error) {
	payload, err := decompress(data[m.PayloadOffset:], m.PayloadSize)
	if err != nil {
		return nil, err
	}
	f := &File{Config: m.Config, State: m.State, Notes: m.Notes, Tensors: make([]Tensor, len(m.Tensors))}
	if m.Tokenizer != "" {
		f.Tokenizer = []byte(m.Tokenizer)
	}
	for i, ti := range m.Tensors {
		b := payload[ti.Offset : ti.Offset+ti.Size : ti.Offset+ti.Size]
		t := Tensor{Name: ti.Name, Shape: ti.Shape, DType: ti.DType}
		if ti.DType == F32 {
			t.F32 = make([]float32, len(b)/4)
			for j := range t.F32 {
				t.F32[j] = float32frombytes(b[4*j:])
			}
		} else {
			t.Raw = b
		}
		f.Tensors[i] = t
	}
	return f, nil
}

// decompress inflates a payload that must be exactly size bytes, never
// allocating more than size.
func decompress(comp []byte, size int64) ([]byte, error) {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(uint64(max(size, zstd.MinWindowSize))), // the decoder wants room for one minimal window
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	out, err := dec.DecodeAll(comp, make([]byte, 0, max(size, 1)))
	if err != nil {
		return nil, fmt.Errorf("%w: payload does not decompress to the declared %d bytes: %v", ErrCorrupt, size, err)
	}
	if int64(len(out)) != size {
		return nil, fmt.Errorf("%w: payload decompresses to %d bytes, manifest says %d", ErrCorrupt, len(out), size)
	}
	return out, nil
}

// Encode writes f in the file format. The output is deterministic: the same
// File always gives the same bytes.
func Encode(w io.Writer, f *File) error {
	m := &Manifest{Format: Version, Config: f.Config, State: f.State, Notes: f.Notes}
	if len(f.Tokenizer) > 0 {
		if !utf8.Valid(f.Tokenizer) {
			return fmt.Errorf("tokenizer is not valid UTF-8")
		}
		m.Tokenizer = string(f.Tokenizer)
	}
	if err := checkJSON("config", f.Config); err != nil {
		return err
	}
	if err := checkJSON("state", f.State); err != nil {
		return err
	}
	// Lay the tensors out, each at a multiple of Align.
	var size int64
	seen := make(map[string]bool, len(f.Tensors))
	m.Tensors = make([]TensorInfo, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Name == "" || seen[t.Name] {
			return fmt.Errorf("%w: tensor %d: empty or repeated name %q", ErrShape, i, t.Name)
		}
		seen[t.Name] = true
		n, err := t.check()
		if err != nil {
			return err
		}
		size = (size + Align - 1) / Align * Align
		m.Tensors[i] = TensorInfo{Name: t.Name, Shape: t.Shape, DType: t.DType, Offset: size, Size: n}
		size += n
	}
	if size > MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes (limit %d)", ErrTooLarge, size, int64(MaxPayload))
	}
	payload := make([]byte, size)
	for i := range f.Tensors {
		t, ti := &f.Tensors[i], &m.Tensors[i]
		b := payload[ti.Offset : ti.Offset+ti.Size]
		if t.DType == F32 {
			for j, v := range t.F32 {
				putFloat32(b[4*j:], v)
			}
		} else {
			copy(b, t.Raw)
		}
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return err
	}
	comp := enc.EncodeAll(payload, nil)
	enc.Close()
	sum := sha256.Sum256(comp)
	m.PayloadSize, m.CompressedSize, m.SHA256 = size, int64(len(comp)), hex.EncodeToString(sum[:])
	if err := m.check(); err != nil {
		return err // a file Decode would refuse (e.g. too compressible) is not written
	}
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(js) > MaxManifest {
		return fmt.Errorf("%w: manifest of %d bytes (limit %d)", ErrTooLarge, len(js), MaxManifest)
	}
	var hdr [HeaderSize]byte
	copy(hdr[:], Magic)
	binary.LittleEndian.PutUint32(hdr[8:], Version)
	binary.LittleEndian.PutUint32(hdr[12:], uint32(len(js)))
	for _, b := range [][]byte{hdr[:], js, comp} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func checkJSON(what string, raw json.RawMessage) error {
	if len(raw) > 0 && !json.Valid(raw) {
		return fmt.Errorf("%s is not valid JSON", what)
	}
	return nil
}
