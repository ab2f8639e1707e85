package onnx

import (
	"encoding/binary"
	"math"
)

// Field numbers of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto) for the messages
// this package writes.
const (
	modelIRVersion     = 1
	modelProducerName  = 2
	modelProducerVer   = 3
	modelDocString     = 6
	modelGraph         = 7
	modelOpsetImport   = 8
	modelMetadataProps = 14

	opsetDomain  = 1
	opsetVersion = 2

	entryKey   = 1
	entryValue = 2

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphDocString   = 10
	graphInput       = 11
	graphOutput      = 12

	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5

	attrName = 1
	attrI    = 3
	attrInts = 8
	attrType = 20

	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9

	valueName = 1
	valueType = 2

	typeTensor   = 1 // TypeProto.tensor_type
	typeElemType = 1 // TypeProto.Tensor.elem_type
	typeShape    = 2 // TypeProto.Tensor.shape
	shapeDim     = 1 // TensorShapeProto.dim
	dimValue     = 1 // TensorShapeProto.Dimension.dim_value
	dimParam     = 2 // TensorShapeProto.Dimension.dim_param
)

// TensorProto.DataType and AttributeProto.AttributeType values.
const (
	dtFloat = 1
	dtInt64 = 7

	attrTypeInt  = 2
	attrTypeInts = 7
)

// graph is an ONNX graph under construction: nodes in execution order, constant tensors
// (weights, tables, shapes), and the typed inputs and outputs.
type graph struct {
	nodes   []node
	inits   []tensor
	inputs  []value
	outputs []value
}

type node struct {
	op      string
	in, out []string
	attrs   []attr
}

// attr is one node attribute: an int or a list of ints (kind says which).
type attr struct {
	name string
	kind int // attrTypeInt or attrTypeInts
	i    int64
	ints []int64
}

func intAttr(name string, v int64) attr     { return attr{name: name, kind: attrTypeInt, i: v} }
func intsAttr(name string, v ...int64) attr { return attr{name: name, kind: attrTypeInts, ints: v} }

// tensor is an initializer: f32 or int64 data of the given dims.
type tensor struct {
	name string
	dims []int64
	f32  []float32 // dtFloat when set
	i64  []int64   // dtInt64 otherwise
}

// value is a typed graph input or output; a dim is a fixed size or, when param is
// non-empty, a named dynamic size.
type value struct {
	name string
	elem int
	dims []dim
}

type dim struct {
	size  int64
	param string
}

// add appends a node with one output, named out, and returns that name.
func (g *graph) add(out, op string, in []string, attrs ...attr) string {
	g.nodes = append(g.nodes, node{op: op, in: in, out: []string{out}, attrs: attrs})
	return out
}

// weight adds an f32 initializer and returns its name.
func (g *graph) weight(name string, data []float32, dims ...int64) string {
	g.inits = append(g.inits, tensor{name: name, dims: dims, f32: data})
	return name
}

// ints adds a 1-D int64 initializer (shapes, axes, slice bounds) and returns its name.
func (g *graph) ints(name string, v ...int64) string {
	g.inits = append(g.inits, tensor{name: name, dims: []int64{int64(len(v))}, i64: v})
	return name
}

func (n node) encode() message {
	var m message
	for _, s := range n.in {
		m.string(nodeInput, s)
	}
	for _, s := range n.out {
		m.string(nodeOutput, s)
	}
	m.string(nodeName, n.out[0])
	m.string(nodeOpType, n.op)
	for _, a := range n.attrs {
		var am message
		am.string(attrName, a.name)
		switch a.kind {
		case attrTypeInt:
			am.int(attrI, a.i)
		case attrTypeInts:
			am.packed(attrInts, a.ints)
		}
		am.int(attrType, int64(a.kind))
		m.msg(nodeAttribute, am)
	}
	return m
}

// encode writes the tensor with its data as raw_data: little-endian values, as
// onnx.proto specifies for raw_data.
func (t tensor) encode() message {
	var m message
	m.packed(tensorDims, t.dims)
	var raw []byte
	if t.f32 != nil {
		m.int(tensorDataType, dtFloat)
		raw = make([]byte, 0, 4*len(t.f32))
		for _, v := range t.f32 {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	} else {
		m.int(tensorDataType, dtInt64)
		raw = make([]byte, 0, 8*len(t.i64))
		for _, v := range t.i64 {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		}
	}
	m.string(tensorName, t.name)
	m.bytes(tensorRawData, raw)
	return m
}

func (v value) encode() message {
	var shape message
	for _, d := range v.dims {
		var dm message
		if d.param != "" {
			dm.string(dimParam, d.param)
		} else {
			dm.int(dimValue, d.size)
		}
		shape.msg(shapeDim, dm)
	}
	var tt message
	tt.int(typeElemType, int64(v.elem))
	tt.msg(typeShape, shape)
	var ty message
	ty.msg(typeTensor, tt)
	var m message
	m.string(valueName, v.name)
	m.msg(valueType, ty)
	return m
}

func (g *graph) encode(name, doc string) message {
	var m message
	for _, n := range g.nodes {
		m.msg(graphNode, n.encode())
	}
	m.string(graphName, name)
	for _, t := range g.inits {
		m.msg(graphInitializer, t.encode())
	}
	m.string(graphDocString, doc)
	for _, v := range g.inputs {
		m.msg(graphInput, v.encode())
	}
	for _, v := range g.outputs {
		m.msg(graphOutput, v.encode())
	}
	return m
}
