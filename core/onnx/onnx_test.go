package onnx

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/model"
)

// The examples of protobuf's encoding guide (protobuf.dev/programming-guides/encoding).
func TestWireFormat(t *testing.T) {
	for _, c := range []struct {
		enc  func(*message)
		want []byte
	}{
		{func(m *message) { m.int(1, 150) }, []byte{0x08, 0x96, 0x01}},
		{func(m *message) { m.int(1, -2) }, []byte{0x08, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{func(m *message) { m.string(2, "testing") }, []byte{0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g'}},
		{func(m *message) { m.packed(4, []int64{3, 270, 86942}) }, []byte{0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05}},
		{func(m *message) { var s message; s.int(1, 150); m.msg(3, s) }, []byte{0x1a, 0x03, 0x08, 0x96, 0x01}},
	} {
		var m message
		c.enc(&m)
		if !bytes.Equal(m, c.want) {
			t.Errorf("got % x, want % x", []byte(m), c.want)
		}
	}
}

func testConfigs() map[string]model.Config {
	base := model.Config{Vocab: 37, Dim: 16, Layers: 2, Heads: 2, Hidden: 40, SeqLen: 12, RopeTheta: 10000, NormEps: 1e-5}
	shift, causal := base, base
	shift.Shift = true
	causal.Causal = true
	return map[string]model.Config{"masked": base, "shift": shift, "causal": causal}
}

// standardOps are the default-domain operators the graph may use, all in opset 17
// with the input and attribute forms build writes (ReduceMean's axes as an attribute,
// which opset 18 moved to an input).
var standardOps = []string{"Add", "Concat", "Gather", "MatMul", "Mul", "Reciprocal", "ReduceMean", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Sqrt", "Transpose"}

// TestGraphWellFormed checks what onnxruntime would refuse to load, without it: every
// node input is defined before its use, every name is defined once, every initializer
// is used, the only output is the last node's, and only standard operators appear.
func TestGraphWellFormed(t *testing.T) {
	for name, cfg := range testConfigs() {
		m, err := model.New(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		g := build(m)
		defined := map[string]bool{"input_ids": true}
		used := map[string]bool{}
		for _, init := range g.inits {
			if defined[init.name] {
				t.Errorf("%s: initializer %s defined twice", name, init.name)
			}
			defined[init.name] = true
			n := int64(1)
			for _, d := range init.dims {
				n *= d
			}
			if got := int64(len(init.f32) + len(init.i64)); got != n {
				t.Errorf("%s: initializer %s has %d values for dims %v", name, init.name, got, init.dims)
			}
		}
		for _, n := range g.nodes {
			if !slices.Contains(standardOps, n.op) {
				t.Errorf("%s: operator %s is not in the list of opset-17 operators", name, n.op)
			}
			for _, in := range n.in {
				if !defined[in] {
					t.Errorf("%s: %s node %s reads %s before it is defined", name, n.op, n.out[0], in)
				}
				used[in] = true
			}
			for _, out := range n.out {
				if defined[out] {
					t.Errorf("%s: %s defined twice", name, out)
				}
				defined[out] = true
			}
		}
		for _, init := range g.inits {
			if !used[init.name] {
				t.Errorf("%s: initializer %s is never used", name, init.name)
			}
		}
		if len(g.outputs) != 1 || g.outputs[0].name != "logits" || g.nodes[len(g.nodes)-1].out[0] != "logits" {
			t.Errorf("%s: outputs %v, last node %v", name, g.outputs, g.nodes[len(g.nodes)-1].out)
		}
		// Each weight is stored once, at f32, with all its values.
		var f32 int
		for _, init := range g.inits {
			if _, ok := m.W.ByName[init.name]; ok {
				f32 += len(init.f32)
			}
		}
		if f32 != cfg.NumParams() {
			t.Errorf("%s: %d weight values in the graph, model has %d", name, f32, cfg.NumParams())
		}
	}
}

// fields splits a protobuf message into its top-level fields: varints as numbers,
// length-delimited fields as bytes (the only wire types the writer emits).
type field struct {
	num  int
	v    uint64
	data []byte
}

func fields(t *testing.T, b []byte) []field {
	t.Helper()
	var fs []field
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			t.Fatalf("bad key at % x", b[:min(len(b), 8)])
		}
		b = b[n:]
		f := field{num: int(key >> 3)}
		switch key & 7 {
		case 0:
			f.v, n = binary.Uvarint(b)
			b = b[n:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				t.Fatalf("field %d: length %d past the end", f.num, l)
			}
			f.data, b = b[n:n+int(l)], b[n+int(l):]
		default:
			t.Fatalf("field %d: wire type %d", f.num, key&7)
		}
		fs = append(fs, f)
	}
	return fs
}

// TestModelHeader reads back the model's version, opset and metadata, the MASK note
// included, from the written bytes.
func TestModelHeader(t *testing.T) {
	for name, cfg := range testConfigs() {
		m, err := model.New(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Write(&buf, m); err != nil {
			t.Fatal(err)
		}
		meta := map[string]string{}
		var ir, opset uint64
		graphs := 0
		for _, f := range fields(t, buf.Bytes()) {
			switch f.num {
			case modelIRVersion:
				ir = f.v
			case modelGraph:
				graphs++
			case modelOpsetImport:
				for _, o := range fields(t, f.data) {
					if o.num == opsetDomain && len(o.data) > 0 {
						t.Errorf("%s: opset domain %q, want the default", name, o.data)
					}
					if o.num == opsetVersion {
						opset = o.v
					}
				}
			case modelMetadataProps:
				var k, v string
				for _, e := range fields(t, f.data) {
					switch e.num {
					case entryKey:
						k = string(e.data)
					case entryValue:
						v = string(e.data)
					}
				}
				meta[k] = v
			}
		}
		if ir != IRVersion || opset != Opset || graphs != 1 {
			t.Errorf("%s: ir_version %d, opset %d, %d graphs", name, ir, opset, graphs)
		}
		mask := strconv.Itoa(cfg.Vocab - 1)
		for k, want := range map[string]string{MetaMaskTokenID: mask, MetaExcludeLogit: mask, MetaEOTTokenID: strconv.Itoa(cfg.Vocab - 2),
			MetaShift: strconv.FormatBool(cfg.Shift), MetaCausal: strconv.FormatBool(cfg.Causal), MetaMaxSeqLen: strconv.Itoa(cfg.SeqLen)} {
			if meta[k] != want {
				t.Errorf("%s: metadata %s = %q, want %q", name, k, meta[k], want)
			}
		}
		if !bytes.Contains([]byte(meta[MetaSampling]), []byte("token id "+mask)) {
			t.Errorf("%s: sampling note %q does not name the MASK id", name, meta[MetaSampling])
		}
	}
}

// TestWriteRefusesOver2GiB: protobuf cannot hold the weights of a model this big, and
// Write says so before it allocates them (the model here has no arena at all).
func TestWriteRefusesOver2GiB(t *testing.T) {
	big := model.Config{Vocab: 1 << 20, Dim: 1 << 10, Layers: 1, Heads: 8, Hidden: 1 << 10, SeqLen: 16, RopeTheta: 10000, NormEps: 1e-5}
	err := Write(&bytes.Buffer{}, &model.Model{Cfg: big})
	if err == nil || !strings.Contains(err.Error(), "2 GiB") {
		t.Fatalf("error %v, want one about protobuf's 2 GiB limit", err)
	}
}
