//go:build (linux || darwin || freebsd) && (amd64 || arm64)

// Package dlopen opens the shared libraries the core loads at run time through purego
// (OpenBLAS, Open MPI), so a plain CGO_ENABLED=0 build runs where they are absent.
package dlopen

import (
	"errors"
	"strings"

	"github.com/ebitengine/purego"
)

// First returns the handle of the first of names that loads (RTLD_NOW|RTLD_GLOBAL), or
// every attempt's error on one line.
func First(names []string) (uintptr, error) {
	var errs []string
	for _, n := range names {
		h, err := purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return h, nil
		}
		errs = append(errs, err.Error())
	}
	return 0, errors.New(strings.Join(errs, "; "))
}
