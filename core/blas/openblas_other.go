//go:build !((linux || darwin || freebsd) && (amd64 || arm64))

package blas

import (
	"errors"

	"gonum.org/v1/gonum/blas/gonum"
)

// OpenBLAS is unavailable on this platform (wasm among others): pure Go only.
type OpenBLAS struct{ gonum.Implementation }

// LoadOpenBLAS always fails here.
func LoadOpenBLAS(threads int) (*OpenBLAS, error) {
	return nil, errors.New("openblas: not supported on this platform")
}
