// Written by hand from expNeg32 and sigmoid in exp.go and elementwise.go: AVX2+FMA
// kernels for SwiGLU and the softmax exponential.

//go:build amd64

#include "textflag.h"

DATA swc_sign<>+0(SB)/4, $0x80000000
DATA swc_sign<>+4(SB)/4, $0x80000000
DATA swc_sign<>+8(SB)/4, $0x80000000
DATA swc_sign<>+12(SB)/4, $0x80000000
DATA swc_sign<>+16(SB)/4, $0x80000000
DATA swc_sign<>+20(SB)/4, $0x80000000
DATA swc_sign<>+24(SB)/4, $0x80000000
DATA swc_sign<>+28(SB)/4, $0x80000000
GLOBL swc_sign<>(SB), RODATA|NOPTR, $32

DATA swc_explo<>+0(SB)/4, $0xc2aeac4f
DATA swc_explo<>+4(SB)/4, $0xc2aeac4f
DATA swc_explo<>+8(SB)/4, $0xc2aeac4f
DATA swc_explo<>+12(SB)/4, $0xc2aeac4f
DATA swc_explo<>+16(SB)/4, $0xc2aeac4f
DATA swc_explo<>+20(SB)/4, $0xc2aeac4f
DATA swc_explo<>+24(SB)/4, $0xc2aeac4f
DATA swc_explo<>+28(SB)/4, $0xc2aeac4f
GLOBL swc_explo<>(SB), RODATA|NOPTR, $32

DATA swc_log2e<>+0(SB)/4, $0x3fb8aa3b
DATA swc_log2e<>+4(SB)/4, $0x3fb8aa3b
DATA swc_log2e<>+8(SB)/4, $0x3fb8aa3b
DATA swc_log2e<>+12(SB)/4, $0x3fb8aa3b
DATA swc_log2e<>+16(SB)/4, $0x3fb8aa3b
DATA swc_log2e<>+20(SB)/4, $0x3fb8aa3b
DATA swc_log2e<>+24(SB)/4, $0x3fb8aa3b
DATA swc_log2e<>+28(SB)/4, $0x3fb8aa3b
GLOBL swc_log2e<>(SB), RODATA|NOPTR, $32

DATA swc_shift<>+0(SB)/4, $0x4b400000
DATA swc_shift<>+4(SB)/4, $0x4b400000
DATA swc_shift<>+8(SB)/4, $0x4b400000
DATA swc_shift<>+12(SB)/4, $0x4b400000
DATA swc_shift<>+16(SB)/4, $0x4b400000
DATA swc_shift<>+20(SB)/4, $0x4b400000
DATA swc_shift<>+24(SB)/4, $0x4b400000
DATA swc_shift<>+28(SB)/4, $0x4b400000
GLOBL swc_shift<>(SB), RODATA|NOPTR, $32

DATA swc_ln2hi<>+0(SB)/4, $0x3f318000
DATA swc_ln2hi<>+4(SB)/4, $0x3f318000
DATA swc_ln2hi<>+8(SB)/4, $0x3f318000
DATA swc_ln2hi<>+12(SB)/4, $0x3f318000
DATA swc_ln2hi<>+16(SB)/4, $0x3f318000
DATA swc_ln2hi<>+20(SB)/4, $0x3f318000
DATA swc_ln2hi<>+24(SB)/4, $0x3f318000
DATA swc_ln2hi<>+28(SB)/4, $0x3f318000
GLOBL swc_ln2hi<>(SB), RODATA|NOPTR, $32

DATA swc_ln2lo<>+0(SB)/4, $0xb95e8083
DATA swc_ln2lo<>+4(SB)/4, $0xb95e8083
DATA swc_ln2lo<>+8(SB)/4, $0xb95e8083
DATA swc_ln2lo<>+12(SB)/4, $0xb95e8083
DATA swc_ln2lo<>+16(SB)/4, $0xb95e8083
DATA swc_ln2lo<>+20(SB)/4, $0xb95e8083
DATA swc_ln2lo<>+24(SB)/4, $0xb95e8083
DATA swc_ln2lo<>+28(SB)/4, $0xb95e8083
GLOBL swc_ln2lo<>(SB), RODATA|NOPTR, $32

DATA swc_c0<>+0(SB)/4, $0x39506967
DATA swc_c0<>+4(SB)/4, $0x39506967
DATA swc_c0<>+8(SB)/4, $0x39506967
DATA swc_c0<>+12(SB)/4, $0x39506967
DATA swc_c0<>+16(SB)/4, $0x39506967
DATA swc_c0<>+20(SB)/4, $0x39506967
DATA swc_c0<>+24(SB)/4, $0x39506967
DATA swc_c0<>+28(SB)/4, $0x39506967
GLOBL swc_c0<>(SB), RODATA|NOPTR, $32

DATA swc_c1<>+0(SB)/4, $0x3ab743ce
DATA swc_c1<>+4(SB)/4, $0x3ab743ce
DATA swc_c1<>+8(SB)/4, $0x3ab743ce
DATA swc_c1<>+12(SB)/4, $0x3ab743ce
DATA swc_c1<>+16(SB)/4, $0x3ab743ce
DATA swc_c1<>+20(SB)/4, $0x3ab743ce
DATA swc_c1<>+24(SB)/4, $0x3ab743ce
DATA swc_c1<>+28(SB)/4, $0x3ab743ce
GLOBL swc_c1<>(SB), RODATA|NOPTR, $32

DATA swc_c2<>+0(SB)/4, $0x3c088908
DATA swc_c2<>+4(SB)/4, $0x3c088908
DATA swc_c2<>+8(SB)/4, $0x3c088908
DATA swc_c2<>+12(SB)/4, $0x3c088908
DATA swc_c2<>+16(SB)/4, $0x3c088908
DATA swc_c2<>+20(SB)/4, $0x3c088908
DATA swc_c2<>+24(SB)/4, $0x3c088908
DATA swc_c2<>+28(SB)/4, $0x3c088908
GLOBL swc_c2<>(SB), RODATA|NOPTR, $32

DATA swc_c3<>+0(SB)/4, $0x3d2aa9c1
DATA swc_c3<>+4(SB)/4, $0x3d2aa9c1
DATA swc_c3<>+8(SB)/4, $0x3d2aa9c1
DATA swc_c3<>+12(SB)/4, $0x3d2aa9c1
DATA swc_c3<>+16(SB)/4, $0x3d2aa9c1
DATA swc_c3<>+20(SB)/4, $0x3d2aa9c1
DATA swc_c3<>+24(SB)/4, $0x3d2aa9c1
DATA swc_c3<>+28(SB)/4, $0x3d2aa9c1
GLOBL swc_c3<>(SB), RODATA|NOPTR, $32

DATA swc_c4<>+0(SB)/4, $0x3e2aaaaa
DATA swc_c4<>+4(SB)/4, $0x3e2aaaaa
DATA swc_c4<>+8(SB)/4, $0x3e2aaaaa
DATA swc_c4<>+12(SB)/4, $0x3e2aaaaa
DATA swc_c4<>+16(SB)/4, $0x3e2aaaaa
DATA swc_c4<>+20(SB)/4, $0x3e2aaaaa
DATA swc_c4<>+24(SB)/4, $0x3e2aaaaa
DATA swc_c4<>+28(SB)/4, $0x3e2aaaaa
GLOBL swc_c4<>(SB), RODATA|NOPTR, $32

DATA swc_c5<>+0(SB)/4, $0x3f000000
DATA swc_c5<>+4(SB)/4, $0x3f000000
DATA swc_c5<>+8(SB)/4, $0x3f000000
DATA swc_c5<>+12(SB)/4, $0x3f000000
DATA swc_c5<>+16(SB)/4, $0x3f000000
DATA swc_c5<>+20(SB)/4, $0x3f000000
DATA swc_c5<>+24(SB)/4, $0x3f000000
DATA swc_c5<>+28(SB)/4, $0x3f000000
GLOBL swc_c5<>(SB), RODATA|NOPTR, $32

DATA swc_one<>+0(SB)/4, $0x3f800000
DATA swc_one<>+4(SB)/4, $0x3f800000
DATA swc_one<>+8(SB)/4, $0x3f800000
DATA swc_one<>+12(SB)/4, $0x3f800000
DATA swc_one<>+16(SB)/4, $0x3f800000
DATA swc_one<>+20(SB)/4, $0x3f800000
DATA swc_one<>+24(SB)/4, $0x3f800000
DATA swc_one<>+28(SB)/4, $0x3f800000
GLOBL swc_one<>(SB), RODATA|NOPTR, $32

DATA swc_bias<>+0(SB)/4, $0x4b3fff81
DATA swc_bias<>+4(SB)/4, $0x4b3fff81
DATA swc_bias<>+8(SB)/4, $0x4b3fff81
DATA swc_bias<>+12(SB)/4, $0x4b3fff81
DATA swc_bias<>+16(SB)/4, $0x4b3fff81
DATA swc_bias<>+20(SB)/4, $0x4b3fff81
DATA swc_bias<>+24(SB)/4, $0x4b3fff81
DATA swc_bias<>+28(SB)/4, $0x4b3fff81
GLOBL swc_bias<>(SB), RODATA|NOPTR, $32

// EXPNEG sets Y4 = exp(Y1) for Y1 <= 0 in 8 lanes, the steps of expNeg32; clobbers
// Y1-Y3 and Y5.
#define EXPNEG \
	VMAXPS       swc_explo<>(SB), Y1, Y1; \
	VMOVUPS      swc_log2e<>(SB), Y2; \
	VFMADD213PS  swc_shift<>(SB), Y1, Y2; \
	VSUBPS       swc_shift<>(SB), Y2, Y3; \
	VFNMADD231PS swc_ln2hi<>(SB), Y3, Y1; \
	VFNMADD231PS swc_ln2lo<>(SB), Y3, Y1; \
	VMOVUPS      swc_c0<>(SB), Y4; \
	VFMADD213PS  swc_c1<>(SB), Y1, Y4; \
	VFMADD213PS  swc_c2<>(SB), Y1, Y4; \
	VFMADD213PS  swc_c3<>(SB), Y1, Y4; \
	VFMADD213PS  swc_c4<>(SB), Y1, Y4; \
	VFMADD213PS  swc_c5<>(SB), Y1, Y4; \
	VMULPS       Y1, Y1, Y5; \
	VFMADD213PS  Y1, Y5, Y4; \
	VADDPS       swc_one<>(SB), Y4, Y4; \
	VPSUBD       swc_bias<>(SB), Y2, Y2; \
	VPSLLD       $23, Y2, Y2; \
	VMULPS       Y2, Y4, Y4

// SIGMOID sets Y6 = sigmoid(Y0) in 8 lanes: EXPNEG of -|Y0|, then 1/(1+e) or e/(1+e)
// by the sign of Y0; clobbers Y1-Y5 and Y7.
#define SIGMOID \
	VORPS        swc_sign<>(SB), Y0, Y1; \
	EXPNEG; \
	VADDPS       swc_one<>(SB), Y4, Y5; \
	VMOVUPS      swc_one<>(SB), Y6; \
	VDIVPS       Y5, Y6, Y6; \
	VMULPS       Y6, Y4, Y7; \
	VBLENDVPS    Y0, Y7, Y6, Y6

// func swigluAVX2(out, gate, u *float32, n int)
TEXT ·swigluAVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ u+16(FP), DX
	MOVQ n+24(FP), CX
	XORQ AX, AX
fwd:
	CMPQ AX, CX
	JGE  fwddone
	VMOVUPS (SI)(AX*4), Y0
	SIGMOID
	VMULPS  Y6, Y0, Y7
	VMULPS  (DX)(AX*4), Y7, Y7
	VMOVUPS Y7, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     fwd
fwddone:
	VZEROUPPER
	RET

// func swigluBackwardAVX2(dg, du, d, gate, u *float32, n int)
TEXT ·swigluBackwardAVX2(SB), NOSPLIT, $0-48
	MOVQ dg+0(FP), R9
	MOVQ du+8(FP), R10
	MOVQ d+16(FP), R8
	MOVQ gate+24(FP), SI
	MOVQ u+32(FP), DX
	MOVQ n+40(FP), CX
	XORQ AX, AX
bwd:
	CMPQ AX, CX
	JGE  bwddone
	VMOVUPS     (SI)(AX*4), Y0
	SIGMOID
	VMOVUPS     (R8)(AX*4), Y8
	VMULPS      Y8, Y0, Y7
	VMULPS      Y6, Y7, Y7
	VADDPS      (R10)(AX*4), Y7, Y7
	VMOVUPS     Y7, (R10)(AX*4)
	VMOVUPS     swc_one<>(SB), Y9
	VSUBPS      Y6, Y9, Y9
	VFMADD213PS swc_one<>(SB), Y0, Y9
	VMULPS      (DX)(AX*4), Y8, Y8
	VMULPS      Y6, Y8, Y8
	VMULPS      Y9, Y8, Y8
	VADDPS      (R9)(AX*4), Y8, Y8
	VMOVUPS     Y8, (R9)(AX*4)
	ADDQ        $8, AX
	JMP         bwd
bwddone:
	VZEROUPPER
	RET

// func expShiftAVX2(x *float32, m float32, n int) float32
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	VBROADCASTSS m+8(FP), Y8
	MOVQ         n+16(FP), CX
	VXORPS       Y9, Y9, Y9
	XORQ         AX, AX
exp:
	CMPQ AX, CX
	JGE  expdone
	VMOVUPS (SI)(AX*4), Y1
	VSUBPS  Y8, Y1, Y1
	EXPNEG
	VMOVUPS Y4, (SI)(AX*4)
	VADDPS  Y4, Y9, Y9
	ADDQ    $8, AX
	JMP     exp
expdone:
	VEXTRACTF128 $1, Y9, X0
	VADDPS       X0, X9, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	MOVSS        X0, ret+24(FP)
	VZEROUPPER
	RET
