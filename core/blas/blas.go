package blas

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// EnvVar forces a backend: "openblas", "gonum" or "auto" (the default).
const EnvVar = "TDIFF_BLAS"

var (
	impl gblas.Float32 = gonum.Implementation{}
	name               = "gonum"
)

// Use makes i the implementation behind Sgemm and Impl; call it once at start-up.
func Use(i gblas.Float32, n string) { impl, name = i, n }

// Impl returns the active implementation.
func Impl() gblas.Float32 { return impl }

// Name returns the active backend's name, e.g. "openblas(2 threads)" or "gonum".
func Name() string { return name }

// Init chooses the backend from the environment: TDIFF_BLAS=openblas fails if the library
// cannot be loaded, gonum forces pure Go, auto (or unset) tries OpenBLAS and falls back.
// threads <= 0 means runtime.GOMAXPROCS(0).
func Init(threads int) error {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	want := strings.ToLower(strings.TrimSpace(os.Getenv(EnvVar)))
	switch want {
	case "gonum":
		Use(gonum.Implementation{}, "gonum")
		return nil
	case "", "auto", "openblas":
		ob, err := LoadOpenBLAS(threads)
		if err != nil {
			if want == "openblas" {
				return fmt.Errorf("%s=openblas: %w", EnvVar, err)
			}
			Use(gonum.Implementation{}, "gonum")
			return nil
		}
		Use(ob, fmt.Sprintf("openblas(%d threads)", threads))
		return nil
	default:
		return fmt.Errorf("%s=%q: want openblas, gonum or auto", EnvVar, want)
	}
}

// Sgemm computes C = alpha * op(A) op(B) + beta * C with row-major matrices,
// op(A) (m,k), op(B) (k,n), C (m,n), through the active backend.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := gblas.NoTrans, gblas.NoTrans
	if transA {
		ta = gblas.Trans
	}
	if transB {
		tb = gblas.Trans
	}
	impl.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Serial runs fn with the backend's own sharing of a product between threads off, so
// that fn may call Sgemm from several goroutines at once, each product running on its
// caller's core. Many small independent products (attention's, one per sequence and
// head) run faster that way than one after another on all threads. Not reentrant; call
// it from one goroutine at a time.
func Serial(fn func()) {
	s, ok := impl.(interface{ setSerial(on bool) })
	if ok {
		s.setSerial(true)
		defer s.setSerial(false)
	}
	fn()
}
