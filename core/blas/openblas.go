//go:build (linux || darwin || freebsd) && (amd64 || arm64)

package blas

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/austen-diffusion/textdiffusion/core/internal/dlopen"
)

// OpenBLAS is gonum's implementation with the level-3 and level-2 products that matter
// (Sgemm, Sgemv) replaced by OpenBLAS calls through purego, so no cgo is needed.
//
// With several threads, OpenBLAS itself runs on one, and Sgemm cuts a product into row
// (or column) blocks, one per thread, each in its own goroutine. The blocks share nothing, so there
// is no barrier inside a product for a busy machine to stall (OpenBLAS's own threads meet
// at several per product, and one descheduled thread holds up the rest), and OpenBLAS's
// worker threads sleep instead of spinning between products while Go code runs.
type OpenBLAS struct {
	gonum.Implementation
	sgemm func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	sgemv func(order, trans, m, n int32, alpha float32, a *float32, lda int32, x *float32, incx int32, beta float32, y *float32, incy int32)

	setThreads func(int32) // nil when the library has no thread control
	threads    int         // goroutines a product is cut into (1: no cutting)
	serial     bool        // inside Serial: the caller's goroutines share the work
}

var _ gblas.Float32 = (*OpenBLAS)(nil)

const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

var libNames = []string{"libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas64_.so.0"}

// LoadOpenBLAS opens the OpenBLAS shared library and sets its thread count.
func LoadOpenBLAS(threads int) (*OpenBLAS, error) {
	lib, err := dlopen.First(libNames)
	if err != nil {
		return nil, fmt.Errorf("openblas not found (install libopenblas0): %w", err)
	}
	ob := &OpenBLAS{}
	if _, err := purego.Dlsym(lib, "cblas_sgemm"); err != nil {
		return nil, fmt.Errorf("openblas: %w", err)
	}
	purego.RegisterLibFunc(&ob.sgemm, lib, "cblas_sgemm")
	purego.RegisterLibFunc(&ob.sgemv, lib, "cblas_sgemv")
	ob.threads = 1
	if _, err := purego.Dlsym(lib, "openblas_set_num_threads"); err == nil {
		purego.RegisterLibFunc(&ob.setThreads, lib, "openblas_set_num_threads")
		ob.setThreads(1)
		ob.threads = max(threads, 1)
	}
	return ob, nil
}

// setSerial stops (on) or restarts (off) the cutting of products; see Serial.
func (o *OpenBLAS) setSerial(on bool) { o.serial = on }

// minBlock is the fewest rows (or columns) of C worth a goroutine of their own.
const minBlock = 64

func trans(t gblas.Transpose) int32 {
	if t == gblas.NoTrans {
		return cblasNoTrans
	}
	return cblasTrans
}

// Sgemm checks its arguments like gonum (same panics) and calls cblas_sgemm.
func (o *OpenBLAS) Sgemm(tA, tB gblas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if o.serial || o.threads <= 1 || k == 0 {
		o.gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Cut C into row blocks, or into column blocks when it has too few rows (the head's
	// product for one short sequence).
	p, byRows := min(o.threads, m/minBlock), true
	if p <= 1 {
		p, byRows = min(o.threads, n/minBlock), false
	}
	if p <= 1 {
		o.gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < p; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if byRows {
				lo, hi := i*m/p, (i+1)*m/p
				o.gemm(tA, tB, hi-lo, n, k, alpha, a[rowOff(tA, lo, lda):], lda, b, ldb, beta, c[lo*ldc:], ldc)
			} else {
				lo, hi := i*n/p, (i+1)*n/p
				o.gemm(tA, tB, m, hi-lo, k, alpha, a, lda, b[colOff(tB, lo, ldb):], ldb, beta, c[lo:], ldc)
			}
		}()
	}
	wg.Wait()
}

// rowOff is where row lo of op(A) starts in A: row lo of A, or column lo when A is
// transposed.
func rowOff(t gblas.Transpose, lo, ld int) int {
	if t == gblas.NoTrans {
		return lo * ld
	}
	return lo
}

// colOff is where column lo of op(B) starts in B: column lo of B, or row lo when B is
// transposed.
func colOff(t gblas.Transpose, lo, ld int) int {
	if t == gblas.NoTrans {
		return lo
	}
	return lo * ld
}

// gemm is one cblas_sgemm call, arguments already checked.
func (o *OpenBLAS) gemm(tA, tB gblas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	var pa, pb *float32
	if k > 0 {
		pa, pb = unsafe.SliceData(a), unsafe.SliceData(b)
	}
	o.sgemm(cblasRowMajor, trans(tA), trans(tB), int32(m), int32(n), int32(k), alpha, pa, int32(lda), pb, int32(ldb), beta, unsafe.SliceData(c), int32(ldc))
}

// Sgemv calls cblas_sgemv for unit strides and gonum otherwise.
func (o *OpenBLAS) Sgemv(tA gblas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	if incX != 1 || incY != 1 || m == 0 || n == 0 || lda < max(1, n) || len(a) < lda*(m-1)+n {
		o.Implementation.Sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	lx, ly := n, m
	if tA != gblas.NoTrans {
		lx, ly = m, n
	}
	if len(x) < lx || len(y) < ly {
		panic("blas: short vector")
	}
	o.sgemv(cblasRowMajor, trans(tA), int32(m), int32(n), alpha, unsafe.SliceData(a), int32(lda), unsafe.SliceData(x), 1, beta, unsafe.SliceData(y), 1)
}

// checkGemm mirrors gonum's argument checks so both backends panic alike on a bad call
// instead of letting C read out of bounds.
func checkGemm(tA, tB gblas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("blas: negative dimension")
	}
	rowA, colA := m, k
	if tA != gblas.NoTrans {
		rowA, colA = k, m
	}
	rowB, colB := k, n
	if tB != gblas.NoTrans {
		rowB, colB = n, k
	}
	if lda < max(1, colA) || ldb < max(1, colB) || ldc < max(1, n) {
		panic("blas: bad leading dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	if (rowA > 0 && len(a) < lda*(rowA-1)+colA) || (rowB > 0 && len(b) < ldb*(rowB-1)+colB) || len(c) < ldc*(m-1)+n {
		panic("blas: short matrix")
	}
}
