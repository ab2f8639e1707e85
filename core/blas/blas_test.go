package blas

import (
	"math"
	"math/rand/v2"
	"testing"

	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// backends lists every implementation available here; each runs the same suite.
func backends(t testing.TB) map[string]gblas.Float32 {
	m := map[string]gblas.Float32{"gonum": gonum.Implementation{}}
	if ob, err := LoadOpenBLAS(2); err == nil {
		m["openblas"] = ob
	} else {
		t.Logf("openblas skipped: %v", err)
	}
	return m
}

func TestConformance(t *testing.T) {
	for name, impl := range backends(t) {
		t.Run(name, func(t *testing.T) { conformance(t, impl) })
	}
}

// conformance checks Sgemm in all four transpose cases with padded leading dimensions,
// alpha/beta scaling and odd sizes against a float64 triple loop, and Sgemv likewise.
func conformance(t *testing.T, impl gblas.Float32) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 48, 130}, {128, 96, 256}, {20, 130, 40}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				rowA, colA := m, k
				if tA {
					rowA, colA = k, m
				}
				rowB, colB := k, n
				if tB {
					rowB, colB = n, k
				}
				lda, ldb, ldc := colA+3, colB+1, n+2
				a, b, c := randv(rng, rowA*lda), randv(rng, rowB*ldb), randv(rng, m*ldc)
				want := append([]float32(nil), c...)
				alpha, beta := float32(0.7), float32(-0.3)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						var s float64
						for p := 0; p < k; p++ {
							var av, bv float32
							if tA {
								av = a[p*lda+i]
							} else {
								av = a[i*lda+p]
							}
							if tB {
								bv = b[j*ldb+p]
							} else {
								bv = b[p*ldb+j]
							}
							s += float64(av) * float64(bv)
						}
						want[i*ldc+j] = float32(float64(alpha)*s + float64(beta)*float64(c[i*ldc+j]))
					}
				}
				ta, tb := gblas.NoTrans, gblas.NoTrans
				if tA {
					ta = gblas.Trans
				}
				if tB {
					tb = gblas.Trans
				}
				impl.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						g, w := c[i*ldc+j], want[i*ldc+j]
						if math.Abs(float64(g-w)) > 1e-4*math.Sqrt(float64(k))+1e-5 {
							t.Fatalf("sgemm %v tA=%v tB=%v: c[%d,%d]=%v want %v", sz, tA, tB, i, j, g, w)
						}
					}
					for j := n; j < ldc; j++ { // padding untouched
						if c[i*ldc+j] != want[i*ldc+j] {
							t.Fatalf("sgemm %v wrote padding", sz)
						}
					}
				}
			}
		}
		// Sgemv: y = alpha A x + beta y, and the transposed form.
		a := randv(rng, m*k)
		for _, tr := range []gblas.Transpose{gblas.NoTrans, gblas.Trans} {
			lx, ly := k, m
			if tr == gblas.Trans {
				lx, ly = m, k
			}
			x, y := randv(rng, lx), randv(rng, ly)
			want := make([]float64, ly)
			for i := 0; i < ly; i++ {
				var s float64
				for p := 0; p < lx; p++ {
					if tr == gblas.NoTrans {
						s += float64(a[i*k+p]) * float64(x[p])
					} else {
						s += float64(a[p*k+i]) * float64(x[p])
					}
				}
				want[i] = 2*s + 0.5*float64(y[i])
			}
			impl.Sgemv(tr, m, k, 2, a, k, x, 1, 0.5, y, 1)
			for i := range want {
				if math.Abs(float64(y[i])-want[i]) > 1e-4*math.Sqrt(float64(lx))+1e-5 {
					t.Fatalf("sgemv %v %v: y[%d]=%v want %v", sz, tr, i, y[i], want[i])
				}
			}
		}
	}
}

func TestShortMatrixPanics(t *testing.T) {
	for name, impl := range backends(t) {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: short C did not panic", name)
				}
			}()
			impl.Sgemm(gblas.NoTrans, gblas.NoTrans, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 16), 4, 0, make([]float32, 15), 4)
		}()
	}
}

func TestInitEnv(t *testing.T) {
	t.Setenv(EnvVar, "gonum")
	if err := Init(1); err != nil || Name() != "gonum" {
		t.Fatalf("Init gonum: %v %q", err, Name())
	}
	t.Setenv(EnvVar, "bogus")
	if err := Init(1); err == nil {
		t.Fatal("bogus backend accepted")
	}
}

func randv(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// BenchmarkSgemm measures the demo model's MLP product, 4096x256 by 256x768.
func BenchmarkSgemm(b *testing.B) {
	for name, impl := range backends(b) {
		b.Run(name, func(b *testing.B) {
			m, n, k := 4096, 768, 256
			rng := rand.New(rand.NewPCG(1, 2))
			a, w, c := randv(rng, m*k), randv(rng, n*k), make([]float32, m*n)
			for i := 0; i < b.N; i++ {
				impl.Sgemm(gblas.NoTrans, gblas.Trans, m, n, k, 1, a, k, w, k, 0, c, n)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
