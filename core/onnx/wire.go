package onnx

import "encoding/binary"

// message is one protobuf message in wire format, its fields appended in the order the
// encoder writes them. Only the two wire types this package needs are here: varint (0)
// and length-delimited (2).
type message []byte

const (
	wireVarint = 0
	wireBytes  = 2
)

func (m *message) varint(v uint64) { *m = binary.AppendUvarint(*m, v) }

func (m *message) tag(field, wire int) { m.varint(uint64(field)<<3 | uint64(wire)) }

// int writes an int64 or int32 field; a negative value takes ten bytes, as protobuf's
// two's-complement varint does.
func (m *message) int(field int, v int64) {
	m.tag(field, wireVarint)
	m.varint(uint64(v))
}

func (m *message) bytes(field int, b []byte) {
	m.tag(field, wireBytes)
	m.varint(uint64(len(b)))
	*m = append(*m, b...)
}

func (m *message) string(field int, s string) {
	m.tag(field, wireBytes)
	m.varint(uint64(len(s)))
	*m = append(*m, s...)
}

// msg writes a nested message.
func (m *message) msg(field int, sub message) { m.bytes(field, sub) }

// packed writes a repeated int64 field in packed form (one length-delimited run of varints).
func (m *message) packed(field int, v []int64) {
	var run message
	for _, x := range v {
		run.varint(uint64(x))
	}
	m.bytes(field, run)
}
