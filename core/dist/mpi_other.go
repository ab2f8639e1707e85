//go:build !((linux || darwin || freebsd) && (amd64 || arm64))

package dist

import "errors"

// OpenMPI always fails here (wasm among others): one process only.
func OpenMPI() (Comm, error) {
	return nil, errors.New("-dist mpi: not supported on this platform")
}
