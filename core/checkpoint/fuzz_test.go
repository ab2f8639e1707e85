package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

var sentinels = []error{ErrNotCheckpoint, ErrVersion, ErrTruncated, ErrHash, ErrUnknownDType, ErrShape, ErrTooLarge, ErrCorrupt}

// checkDecoded asserts what a successful Decode promises, and that the
// result survives another round trip.
func checkDecoded(t *testing.T, f *File) {
	for i := range f.Tensors {
		tt := &f.Tensors[i]
		if _, err := tt.check(); err != nil {
			t.Fatalf("decoded tensor fails its own check: %v", err)
		}
		x, err := tt.Float32()
		if err != nil || len(x) != tt.Len() {
			t.Fatalf("Float32: %d values, %v", len(x), err)
		}
	}
	var buf bytes.Buffer
	if err := Encode(&buf, f); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return // a legal input that Encode's layout (alignment padding) pushes over a cap
		}
		t.Fatalf("re-encode: %v", err)
	}
	g, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatalf("decode of re-encoded file: %v", err)
	}
	if len(g.Tensors) != len(f.Tensors) {
		t.Fatalf("re-decoded %d tensors, want %d", len(g.Tensors), len(f.Tensors))
	}
}

func seedFile() []byte {
	f := &File{
		Config:    json.RawMessage(`{"vocab":64}`),
		Tokenizer: []byte(`{"v":1}`),
		Notes:     map[string]string{"k": "v"},
		Tensors: []Tensor{
			{Name: "a", Shape: []int{2, 32}, F32: make([]float32, 64)},
			{Name: "b", Shape: []int{1, 32}, DType: Q8_0, Raw: make([]byte, 34)},
			{Name: "c", Shape: []int{1, 32}, DType: Q4_0, Raw: make([]byte, 18)},
			{Name: "d", Shape: []int{3}, DType: F16, Raw: make([]byte, 6)},
		},
	}
	var buf bytes.Buffer
	if err := Encode(&buf, f); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// FuzzDecode: Decode never panics, fails only with one of the sentinel
// errors, and whatever it accepts is consistent.
func FuzzDecode(f *testing.F) {
	good := seedFile()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Decode(data)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		checkDecoded(t, file)
	})
}

// FuzzManifest fuzzes the manifest and the uncompressed payload: the
// harness compresses the payload and fixes the hash and compressed size
// (when the manifest is a JSON object), so the tensor table, the size
// checks and the decompression are reached, not just the hash check.
func FuzzManifest(f *testing.F) {
	good := seedFile()
	m, _ := ReadManifest(good)
	f.Add(good[HeaderSize:m.PayloadOffset], make([]byte, m.PayloadSize))
	f.Add([]byte(`{"format":1,"tensors":[{"name":"x","shape":[32],"dtype":"q8_0","offset":0,"size":34}],"payload_size":34}`), make([]byte, 34))
	f.Add([]byte(`{"format":1,"tensors":[{"name":"x","shape":[1,1],"dtype":"f32","offset":0,"size":4},{"name":"y","shape":[],"dtype":"f16","offset":2,"size":2}],"payload_size":8}`), make([]byte, 8))
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	f.Fuzz(func(t *testing.T, manifest, payload []byte) {
		comp := enc.EncodeAll(payload, nil)
		var mm map[string]json.RawMessage
		if json.Unmarshal(manifest, &mm) == nil && mm != nil {
			mm["sha256"], _ = json.Marshal(sha256hex(comp))
			mm["compressed_size"], _ = json.Marshal(len(comp))
			manifest, _ = json.Marshal(mm)
		}
		data := make([]byte, HeaderSize, HeaderSize+len(manifest)+len(comp))
		copy(data, Magic)
		binary.LittleEndian.PutUint32(data[8:], Version)
		binary.LittleEndian.PutUint32(data[12:], uint32(len(manifest)))
		data = append(append(data, manifest...), comp...)
		if _, err := ReadManifest(data); err != nil {
			if _, err2 := Decode(data); err2 == nil {
				t.Fatalf("ReadManifest refuses (%v) what Decode accepts", err)
			}
			return
		}
		file, err := Decode(data)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		checkDecoded(t, file)
	})
}
