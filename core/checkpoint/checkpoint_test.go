package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/quant"
)

func gauss(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	return x
}

// sample is a small model-like file with every dtype.
func sample(t *testing.T) *File {
	t.Helper()
	f := &File{
		Config:    json.RawMessage(`{"vocab":64,"dim":32,"layers":1}`),
		Tokenizer: []byte(`{"model":{"type":"BPE","vocab":{"a":0,"é":1}}}`),
		State:     json.RawMessage(`{"step":1200,"rng":[1,2,3],"data_pos":98765}`),
		Notes:     map[string]string{"trained_on": "austen"},
		Tensors: []Tensor{
			{Name: "tok_emb", Shape: []int{64, 32}, F32: gauss(64*32, 1)},
			{Name: "layers.0.attn_norm", Shape: []int{32}, F32: gauss(32, 2)},
			{Name: "layers.0.wq", Shape: []int{32, 32}, F32: gauss(32*32, 3)},
			{Name: "layers.0.w1", Shape: []int{96, 32}, F32: gauss(96*32, 4)},
			{Name: "head", Shape: []int{64, 32}, F32: gauss(64*32, 5)},
		},
	}
	g, err := Convert(f, func(t *Tensor) DType {
		switch t.Name {
		case "layers.0.wq":
			return Q8_0
		case "layers.0.w1":
			return Q4_0
		case "head":
			return F16
		}
		return F32
	})
	if err != nil {
		t.Fatal(err)
	}
	g.Tensors = append(g.Tensors, Tensor{Name: "adam.m.tok_emb", Shape: []int{64, 32}, F32: make([]float32, 64*32)})
	return g
}

func encode(t *testing.T, f *File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sameFile(t *testing.T, got, want *File) {
	t.Helper()
	if !bytes.Equal(got.Config, want.Config) || !bytes.Equal(got.State, want.State) || !bytes.Equal(got.Tokenizer, want.Tokenizer) {
		t.Errorf("config/state/tokenizer differ:\n%s %s %q\n%s %s %q", got.Config, got.State, got.Tokenizer, want.Config, want.State, want.Tokenizer)
	}
	if len(got.Notes) != len(want.Notes) {
		t.Errorf("notes %v, want %v", got.Notes, want.Notes)
	}
	for k, v := range want.Notes {
		if got.Notes[k] != v {
			t.Errorf("note %q = %q, want %q", k, got.Notes[k], v)
		}
	}
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for i := range want.Tensors {
		g, w := &got.Tensors[i], &want.Tensors[i]
		if g.Name != w.Name || g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Raw, w.Raw) || len(g.F32) != len(w.F32) {
			t.Fatalf("tensor %d: got %s %v %s, want %s %v %s", i, g.Name, g.Shape, g.DType, w.Name, w.Shape, w.DType)
		}
		for j := range w.F32 {
			if math.Float32bits(g.F32[j]) != math.Float32bits(w.F32[j]) {
				t.Fatalf("tensor %s element %d: %v, want %v", w.Name, j, g.F32[j], w.F32[j])
			}
		}
	}
}

func TestRoundTripEveryDType(t *testing.T) {
	f := sample(t)
	data := encode(t, f)
	g, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, g, f)
	seen := map[DType]bool{}
	for _, tt := range g.Tensors {
		seen[tt.DType] = true
	}
	if len(seen) != int(numDTypes) {
		t.Errorf("sample covers dtypes %v, want all %d", seen, numDTypes)
	}
	if again := encode(t, g); !bytes.Equal(again, data) {
		t.Error("re-encoding a decoded file gives different bytes (Encode must be deterministic)")
	}
	m, err := ReadManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range m.Tensors {
		if ti.Offset%Align != 0 {
			t.Errorf("tensor %s at offset %d, not a multiple of %d", ti.Name, ti.Offset, Align)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	f := sample(t)
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, g, f)
	// Saving again over the file replaces it.
	f.Notes = map[string]string{"v": "2"}
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	if g, err = Load(path); err != nil || g.Notes["v"] != "2" {
		t.Fatalf("after overwrite: notes %v, err %v", g.Notes, err)
	}
	onlyFile(t, filepath.Dir(path), "m.ckpt")
}

func TestEmptyFile(t *testing.T) {
	g, err := Decode(encode(t, &File{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Tensors) != 0 || g.Config != nil || g.Tokenizer != nil {
		t.Errorf("empty file decoded to %+v", g)
	}
}

func TestFloat32MatchesQuantReference(t *testing.T) {
	f := sample(t)
	for _, tt := range f.Tensors {
		got, err := tt.Float32()
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, tt.Len())
		switch tt.DType {
		case F32:
			want = tt.F32
		case F16:
			quant.DecodeF16(want, tt.Raw)
		case Q8_0:
			quant.DequantizeQ8_0(want, tt.Raw)
		case Q4_0:
			quant.DequantizeQ4_0(want, tt.Raw)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: element %d = %v, reference %v", tt.Name, i, got[i], want[i])
			}
		}
	}
}

func TestQuantize(t *testing.T) {
	w := gauss(64*32, 9)
	f := &File{Tensors: []Tensor{
		{Name: "tok_emb", Shape: []int{64, 32}, F32: w},
		{Name: "norm", Shape: []int{32}, F32: gauss(32, 1)},
		{Name: "odd", Shape: []int{4, 20}, F32: gauss(80, 2)},
		{Name: "w", Shape: []int{64, 32}, F32: w},
	}}
	g, err := Quantize(f, Q4_0, func(name string) bool { return name == "tok_emb" })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]DType{"tok_emb": F32, "norm": F32, "odd": F32, "w": Q4_0}
	for _, tt := range g.Tensors {
		if tt.DType != want[tt.Name] {
			t.Errorf("%s stored as %s, want %s", tt.Name, tt.DType, want[tt.Name])
		}
	}
	if g.Notes["quant.dtype"] != "q4_0" || g.Notes["quant.f32"] != "tok_emb,norm,odd" {
		t.Errorf("notes %v", g.Notes)
	}
	if f.Notes != nil || f.Tensors[3].DType != F32 {
		t.Error("Quantize modified its input")
	}
	y, _ := g.Tensor("w").Float32()
	var num, den float64
	for i := range w {
		num += float64((y[i] - w[i]) * (y[i] - w[i]))
		den += float64(w[i] * w[i])
	}
	if e := math.Sqrt(num / den); e > 0.1 {
		t.Errorf("q4_0 relative RMS error %.3f", e)
	}
	// q4_0 -> q8_0 goes through float32.
	h, err := Quantize(g, Q8_0, nil)
	if err != nil || h.Tensor("w").DType != Q8_0 {
		t.Fatalf("requantize: %v", err)
	}
	f.Tensors[3].F32 = append([]float32{float32(math.NaN())}, w[1:]...)
	if _, err := Quantize(f, Q8_0, nil); err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Errorf("NaN weight: err = %v", err)
	}
}

// onlyFile fails unless dir holds exactly the named file (no temp files left).
func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != name {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only %s", names, name)
	}
}

type failingWriter struct {
	w    io.Writer
	left int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n, _ := f.w.Write(p[:f.left])
		f.left = 0
		return n, errors.New("disk full (injected)")
	}
	f.left -= len(p)
	return f.w.Write(p)
}

func TestSaveFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.ckpt")
	if err := Save(path, sample(t)); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path)
	f := sample(t)
	f.Notes = map[string]string{"new": "yes"}
	n := len(encode(t, f))
	for _, cut := range []int{0, 10, n / 2, n - 1} {
		saveHook = func(w io.Writer) io.Writer { return &failingWriter{w: w, left: cut} }
		err := Save(path, f)
		saveHook = nil
		if err == nil || !strings.Contains(err.Error(), "injected") || !strings.HasPrefix(err.Error(), path+": ") {
			t.Fatalf("cut at %d: Save error = %v", cut, err)
		}
		now, _ := os.ReadFile(path)
		if !bytes.Equal(now, old) {
			t.Fatalf("cut at %d: the old file changed", cut)
		}
		onlyFile(t, dir, "m.ckpt")
	}
}

// TestRemoveTemps: the names RemoveTemps takes are the ones Save makes (seen from inside
// a Save), and it leaves every other file alone: other files' temporaries, look-alikes,
// a folder of the same name, the file itself.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.ckpt")
	var during []string // the folder while Save writes
	saveHook = func(w io.Writer) io.Writer {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			during = append(during, e.Name())
		}
		return w
	}
	err := Save(path, sample(t))
	saveHook = nil
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 {
		t.Fatalf("while saving the folder held %v, want one temporary file", during)
	}
	stale := []string{during[0], ".checkpoint.ckpt.tmp-1", ".checkpoint.ckpt.tmp-4294967295"}
	keep := []string{"checkpoint.ckpt", ".checkpoint.ckpt.tmp-", ".checkpoint.ckpt.tmp-12x", "checkpoint.ckpt.tmp-7",
		".model.ckpt.tmp-7", ".checkpoint.ckpt.tmp-7.bak", "notes.txt"}
	for _, name := range append(stale[:len(stale):len(stale)], keep[1:]...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".checkpoint.ckpt.tmp-99"), 0o755); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, ".checkpoint.ckpt.tmp-99")
	removed, err := RemoveTemps(path)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	slices.Sort(stale)
	if !slices.Equal(removed, stale) {
		t.Errorf("removed %v, want %v", removed, stale)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	slices.Sort(keep)
	if !slices.Equal(left, keep) {
		t.Errorf("left %v, want %v", left, keep)
	}
	if _, err := Load(path); err != nil {
		t.Errorf("the checkpoint itself: %v", err)
	}
}

// rewrite decodes the manifest of a valid file, lets edit change it as
// generic JSON, and reassembles the file with the same payload.
func rewrite(t *testing.T, data []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	mlen := binary.LittleEndian.Uint32(data[12:])
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(data[16 : 16+mlen]))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	js, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), data[:16]...)
	binary.LittleEndian.PutUint32(out[12:], uint32(len(js)))
	out = append(out, js...)
	return append(out, data[16+mlen:]...)
}

func tensorEntry(m map[string]any, i int) map[string]any {
	return m["tensors"].([]any)[i].(map[string]any)
}

func TestErrors(t *testing.T) {
	good := encode(t, sample(t))
	m, err := ReadManifest(good)
	if err != nil {
		t.Fatal(err)
	}
	po := int(m.PayloadOffset)
	flipped := slices.Clone(good)
	flipped[po+len(flipped[po:])/2] ^= 0x40
	wrongMagic := slices.Clone(good)
	copy(wrongMagic, "GGUF\x03\x00\x00\x00")
	v99 := slices.Clone(good)
	binary.LittleEndian.PutUint32(v99[8:], 99)
	hugeManifest := slices.Clone(good)
	binary.LittleEndian.PutUint32(hugeManifest[12:], 0xffffffff)

	cases := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"flipped payload byte", flipped, ErrHash, "hash mismatch: manifest says " + m.SHA256 + ", payload is "},
		{"cut in half", good[:len(good)/2], ErrTruncated, "truncated"},
		{"cut in the manifest", good[:40], ErrTruncated, "truncated"},
		{"wrong magic", wrongMagic, ErrNotCheckpoint, "GGUF"},
		{"not a checkpoint at all", []byte("hello"), ErrNotCheckpoint, "magic"},
		{"version 99", v99, ErrVersion, "version 99"},
		{"manifest format 2", rewrite(t, good, func(m map[string]any) { m["format"] = 2 }), ErrVersion, "format 2"},
		{"unknown dtype", rewrite(t, good, func(m map[string]any) { tensorEntry(m, 2)["dtype"] = "q9_9" }), ErrUnknownDType, `"q9_9"`},
		{"shape mismatch", rewrite(t, good, func(m map[string]any) { tensorEntry(m, 2)["shape"] = []int{32, 64} }), ErrShape, "layers.0.wq"},
		{"q8_0 rows not whole blocks", rewrite(t, good, func(m map[string]any) { tensorEntry(m, 2)["shape"] = []int{34, 32 - 2} }), ErrShape, "multiple of 32"},
		{"negative dimension", rewrite(t, good, func(m map[string]any) { tensorEntry(m, 0)["shape"] = []int{-64, -32} }), ErrShape, "negative"},
		{"huge dimensions", rewrite(t, good, func(m map[string]any) { tensorEntry(m, 0)["shape"] = []int{1 << 62, 1 << 62} }), ErrShape, "2^40"},
		{"offset out of range", rewrite(t, good, func(m map[string]any) { tensorEntry(m, 4)["offset"] = m["payload_size"] }), ErrShape, "outside"},
		{"overlapping tensors", rewrite(t, good, func(m map[string]any) { tensorEntry(m, 1)["offset"] = 256 }), ErrShape, "overlap"},
		{"negative offset", rewrite(t, good, func(m map[string]any) { tensorEntry(m, 1)["offset"] = -256 }), ErrShape, "outside"},
		{"duplicate name", rewrite(t, good, func(m map[string]any) { tensorEntry(m, 1)["name"] = "tok_emb" }), ErrCorrupt, "twice"},
		{"bad sha256", rewrite(t, good, func(m map[string]any) { m["sha256"] = "xyz" }), ErrCorrupt, "hex"},
		{"huge payload", rewrite(t, good, func(m map[string]any) { m["payload_size"] = int64(1) << 40 }), ErrTooLarge, "limit"},
		{"payload ratio", rewrite(t, good, func(m map[string]any) { m["payload_size"] = int64(3) << 30 }), ErrTooLarge, "64:1"},
		{"huge manifest length", hugeManifest, ErrTooLarge, "manifest of 4294967295 bytes"},
		{"trailing bytes", append(slices.Clone(good), 0), ErrCorrupt, "1 bytes after"},
		{"compressed size too big", rewrite(t, good, func(m map[string]any) { m["compressed_size"] = len(good) }), ErrTruncated, "only"},
	}
	for _, c := range cases {
		// DecodeChecked skips only the payload's hash: it refuses everything else alike.
		decoders := map[string]func([]byte) (*File, error){"Decode": Decode, "DecodeChecked": DecodeChecked}
		if c.want == ErrHash {
			delete(decoders, "DecodeChecked")
		}
		for name, decode := range decoders {
			_, err := decode(c.data)
			if !errors.Is(err, c.want) {
				t.Errorf("%s: %s: error %v, want %v", c.name, name, err, c.want)
				continue
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s: %s: error %q does not mention %q", c.name, name, err, c.msg)
			}
		}
	}
	// A manifest that is not JSON at all.
	bad := slices.Clone(good[:16])
	binary.LittleEndian.PutUint32(bad[12:], 5)
	bad = append(bad, "{oops"...)
	if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage manifest: %v", err)
	}
}

// TestEveryPrefixIsTruncated: cutting a file anywhere is reported as truncation.
func TestEveryPrefixIsTruncated(t *testing.T) {
	good := encode(t, sample(t))
	for n := 0; n < len(good); n++ {
		if _, err := Decode(good[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix of %d/%d bytes: %v", n, len(good), err)
		}
		if _, err := DecodeChecked(good[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("DecodeChecked, prefix of %d/%d bytes: %v", n, len(good), err)
		}
	}
}

// TestDecodeChecked: without the hash, the same file decodes to the same tensors.
func TestDecodeChecked(t *testing.T) {
	good := encode(t, sample(t))
	want, err := Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeChecked(good)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeChecked differs from Decode")
	}
}

// withPayload replaces the payload of a valid file by comp and fixes the
// hash and compressed size, so only the decompression can fail.
func withPayload(t *testing.T, data, comp []byte, payloadSize int64) []byte {
	m, _ := ReadManifest(data)
	out := rewrite(t, data[:m.PayloadOffset], func(mm map[string]any) {
		mm["compressed_size"] = len(comp)
		mm["payload_size"] = payloadSize
		mm["sha256"] = sha256hex(comp)
		mm["tensors"] = []any{}
	})
	return append(out, comp...)
}

func TestBadPayload(t *testing.T) {
	good := encode(t, sample(t))
	if _, err := Decode(withPayload(t, good, []byte("not zstd at all"), 100)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage payload: %v", err)
	}
	// A valid frame of the wrong size.
	small := encode(t, &File{Tensors: []Tensor{{Name: "x", Shape: []int{8}, F32: make([]float32, 8)}}})
	ms, _ := ReadManifest(small)
	comp := small[ms.PayloadOffset:]
	for _, size := range []int64{ms.PayloadSize - 1, ms.PayloadSize + 1, 0} {
		if _, err := Decode(withPayload(t, good, comp, size)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("payload declared %d bytes, is %d: %v", size, ms.PayloadSize, err)
		}
	}
}

// TestHugeDeclaredSizeRefusedWithoutAllocating: a small file that claims a
// big payload is refused before anything of that size is allocated.
func TestHugeDeclaredSizeRefusedWithoutAllocating(t *testing.T) {
	good := encode(t, sample(t))
	m, _ := ReadManifest(good)
	for _, size := range []int64{MaxRatio*m.CompressedSize + RatioSlack + 1, MaxPayload + 1, 1 << 50} {
		bad := rewrite(t, good, func(mm map[string]any) { mm["payload_size"] = size })
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(bad)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("declared %d: %v", size, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("declared %d: allocated %d bytes before refusing", size, grew)
		}
	}
}

func TestLoadErrorsNamePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.ckpt")
	data := encode(t, sample(t))
	m, _ := ReadManifest(data)
	data[len(data)-1] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + ": hash mismatch: manifest says " + m.SHA256 + ", payload is "
	if !errors.Is(err, ErrHash) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load error %q, want prefix %q", err, want)
	}
}

func TestEncodeRefusesBadTensors(t *testing.T) {
	cases := []struct {
		name string
		t    Tensor
		want error
	}{
		{"f32 length", Tensor{Name: "a", Shape: []int{2, 3}, F32: make([]float32, 5)}, ErrShape},
		{"raw length", Tensor{Name: "a", Shape: []int{1, 32}, DType: Q8_0, Raw: make([]byte, 18)}, ErrShape},
		{"q4_0 row", Tensor{Name: "a", Shape: []int{2, 16}, DType: Q4_0, Raw: make([]byte, 18)}, ErrShape},
		{"both fields", Tensor{Name: "a", Shape: []int{1}, F32: []float32{1}, Raw: []byte{1}}, ErrShape},
		{"no name", Tensor{Shape: []int{1}, F32: []float32{1}}, ErrShape},
		{"dtype", Tensor{Name: "a", Shape: []int{1}, DType: 9, Raw: []byte{1}}, ErrUnknownDType},
	}
	for _, c := range cases {
		err := Encode(io.Discard, &File{Tensors: []Tensor{c.t}})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := Encode(io.Discard, &File{Config: json.RawMessage("{")}); err == nil {
		t.Error("invalid config JSON accepted")
	}
	if err := Encode(io.Discard, &File{Tokenizer: []byte{0xff}}); err == nil {
		t.Error("non-UTF-8 tokenizer accepted")
	}
	dup := &File{Tensors: []Tensor{{Name: "a", Shape: []int{1}, F32: []float32{1}}, {Name: "a", Shape: []int{1}, F32: []float32{1}}}}
	if err := Encode(io.Discard, dup); !errors.Is(err, ErrShape) {
		t.Errorf("duplicate names: %v", err)
	}
}

// TestEncodeRefusesBombs: Encode does not write a file Decode would refuse.
func TestEncodeRefusesBombs(t *testing.T) {
	n := (RatioSlack + 1<<20) / 4
	f := &File{Tensors: []Tensor{{Name: "zeros", Shape: []int{n}, F32: make([]float32, n)}}}
	if err := Encode(io.Discard, f); !errors.Is(err, ErrTooLarge) {
		t.Errorf("all-zero %d MiB tensor: %v, want ErrTooLarge", n*4>>20, err)
	}
}

func TestReadManifestOnPrefix(t *testing.T) {
	data := encode(t, sample(t))
	m, err := ReadManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := ReadManifest(data[:m.PayloadOffset])
	if err != nil || m2.SHA256 != m.SHA256 || len(m2.Tensors) != len(m.Tensors) {
		t.Fatalf("prefix: %v", err)
	}
	if _, err := Verify(data[:m.PayloadOffset]); !errors.Is(err, ErrTruncated) {
		t.Errorf("Verify on a prefix: %v", err)
	}
	if _, err := Verify(data); err != nil {
		t.Error(err)
	}
	if m.Tensors[2].DType != Q8_0 || m.Tokenizer == "" || string(m.Config) != `{"vocab":64,"dim":32,"layers":1}` {
		t.Errorf("manifest %+v", m.Tensors[2])
	}
}

func TestDTypeNames(t *testing.T) {
	for d := F32; d < numDTypes; d++ {
		p, err := ParseDType(d.String())
		if err != nil || p != d {
			t.Errorf("%s: ParseDType = %v, %v", d, p, err)
		}
	}
	if _, err := ParseDType("bf16"); !errors.Is(err, ErrUnknownDType) {
		t.Errorf("bf16: %v", err)
	}
}
