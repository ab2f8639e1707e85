package model

import (
	"fmt"
	"os"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/blas"
)

// TestMain picks the BLAS backend as commands do (TDIFF_BLAS), so the suite runs on
// OpenBLAS where it is installed and on pure Go with TDIFF_BLAS=gonum.
func TestMain(m *testing.M) {
	if err := blas.Init(0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "blas:", blas.Name())
	os.Exit(m.Run())
}
