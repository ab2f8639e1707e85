package quant

import "encoding/binary"

// The fast paths below do the same float32 operations as the reference in
// the same order, so their results are bit-identical; they gain speed by
// viewing each block as a fixed-size array (no bounds checks) and by
// unrolling. (A per-block table of the 16 code values was tried for Q4_0:
// slower than converting each code, natively and under wasm.)

// DequantizeQ8_0Fast is DequantizeQ8_0, faster; src is (n/32*34), dst is (n).
func DequantizeQ8_0Fast(dst []float32, src []byte) {
	if len(dst)%QK != 0 || len(src) != len(dst)/QK*BlockSizeQ8_0 {
		panic("quant: DequantizeQ8_0Fast: len(src) != len(dst)/32*34")
	}
	if fast.Q8_0 != nil {
		fast.Q8_0(dst, src)
		return
	}
	for len(dst) >= QK {
		b := (*[BlockSizeQ8_0]byte)(src)
		y := (*[QK]float32)(dst)
		d := F16ToF32(binary.LittleEndian.Uint16(b[:2]))
		for j := 0; j < QK; j += 8 {
			y[j+0] = float32(int8(b[2+j+0])) * d
			y[j+1] = float32(int8(b[2+j+1])) * d
			y[j+2] = float32(int8(b[2+j+2])) * d
			y[j+3] = float32(int8(b[2+j+3])) * d
			y[j+4] = float32(int8(b[2+j+4])) * d
			y[j+5] = float32(int8(b[2+j+5])) * d
			y[j+6] = float32(int8(b[2+j+6])) * d
			y[j+7] = float32(int8(b[2+j+7])) * d
		}
		src, dst = src[BlockSizeQ8_0:], dst[QK:]
	}
}

// DequantizeQ4_0Fast is DequantizeQ4_0, faster; src is (n/32*18), dst is (n).
func DequantizeQ4_0Fast(dst []float32, src []byte) {
	if len(dst)%QK != 0 || len(src) != len(dst)/QK*BlockSizeQ4_0 {
		panic("quant: DequantizeQ4_0Fast: len(src) != len(dst)/32*18")
	}
	for len(dst) >= QK {
		b := (*[BlockSizeQ4_0]byte)(src)
		lo := (*[QK / 2]float32)(dst[:QK/2])
		hi := (*[QK / 2]float32)(dst[QK/2 : QK])
		d := F16ToF32(binary.LittleEndian.Uint16(b[:2]))
		for j := 0; j < QK/2; j += 4 {
			c0, c1, c2, c3 := b[2+j], b[3+j], b[4+j], b[5+j]
			lo[j+0], hi[j+0] = float32(int32(c0&15)-8)*d, float32(int32(c0>>4)-8)*d
			lo[j+1], hi[j+1] = float32(int32(c1&15)-8)*d, float32(int32(c1>>4)-8)*d
			lo[j+2], hi[j+2] = float32(int32(c2&15)-8)*d, float32(int32(c2>>4)-8)*d
			lo[j+3], hi[j+3] = float32(int32(c3&15)-8)*d, float32(int32(c3>>4)-8)*d
		}
		src, dst = src[BlockSizeQ4_0:], dst[QK:]
	}
}

// DotQ8_0 returns Dot(w, x) where w is the Q8_0 row dequantized, without
// materialising w; row is (len(x)/32*34).
func DotQ8_0(row []byte, x []float32) float32 {
	if len(x)%QK != 0 || len(row) != len(x)/QK*BlockSizeQ8_0 {
		panic("quant: DotQ8_0: len(row) != len(x)/32*34")
	}
	var s0, s1, s2, s3 float32
	for len(x) >= QK {
		b := (*[BlockSizeQ8_0]byte)(row)
		v := (*[QK]float32)(x)
		d := F16ToF32(binary.LittleEndian.Uint16(b[:2]))
		for j := 0; j < QK; j += 4 {
			s0 += float32(float32(float32(int8(b[2+j+0]))*d) * v[j+0])
			s1 += float32(float32(float32(int8(b[2+j+1]))*d) * v[j+1])
			s2 += float32(float32(float32(int8(b[2+j+2]))*d) * v[j+2])
			s3 += float32(float32(float32(int8(b[2+j+3]))*d) * v[j+3])
		}
		row, x = row[BlockSizeQ8_0:], x[QK:]
	}
	return (s0 + s1) + (s2 + s3)
}

// DotQ4_0 returns Dot(w, x) where w is the Q4_0 row dequantized, without
// materialising w; row is (len(x)/32*18).
func DotQ4_0(row []byte, x []float32) float32 {
	if len(x)%QK != 0 || len(row) != len(x)/QK*BlockSizeQ4_0 {
		panic("quant: DotQ4_0: len(row) != len(x)/32*18")
	}
	var s0, s1, s2, s3 float32
	for len(x) >= QK {
		b := (*[BlockSizeQ4_0]byte)(row)
		v := (*[QK]float32)(x)
		d := F16ToF32(binary.LittleEndian.Uint16(b[:2]))
		// Element j goes to sum j%4 and element 16+j to sum (16+j)%4 = j%4,
		// after element j, as in Dot's order.
		for j := 0; j < QK/2; j += 4 {
			s0 += float32(float32(float32(int32(b[2+j+0]&15)-8)*d) * v[j+0])
			s1 += float32(float32(float32(int32(b[2+j+1]&15)-8)*d) * v[j+1])
			s2 += float32(float32(float32(int32(b[2+j+2]&15)-8)*d) * v[j+2])
			s3 += float32(float32(float32(int32(b[2+j+3]&15)-8)*d) * v[j+3])
		}
		for j := 0; j < QK/2; j += 4 {
			s0 += float32(float32(float32(int32(b[2+j+0]>>4)-8)*d) * v[QK/2+j+0])
			s1 += float32(float32(float32(int32(b[2+j+1]>>4)-8)*d) * v[QK/2+j+1])
			s2 += float32(float32(float32(int32(b[2+j+2]>>4)-8)*d) * v[QK/2+j+2])
			s3 += float32(float32(float32(int32(b[2+j+3]>>4)-8)*d) * v[QK/2+j+3])
		}
		row, x = row[BlockSizeQ4_0:], x[QK:]
	}
	return (s0 + s1) + (s2 + s3)
}
