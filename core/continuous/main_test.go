package continuous

import (
	"fmt"
	"os"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/blas"
)

// TestMain picks the BLAS backend as commands do (TDIFF_BLAS): the encoder tests run a model.
func TestMain(m *testing.M) {
	if err := blas.Init(0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}
