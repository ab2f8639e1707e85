//go:build !((linux || darwin || freebsd) && (amd64 || arm64))

package dist

import "errors"

// OpenMPI always fails here (wasm among others): one process only.
func OpenMPI() (Comm, error) { return openMPI(nil) }

func openMPI([]string) (Comm, error) {
	return nil, errors.New("-dist mpi: not supported on this platform (Open MPI needs linux, darwin or freebsd on amd64 or arm64; apt-get install openmpi-bin libopenmpi3)")
}
