// Package dist is the communicator of data-parallel training: one process (the default),
// or Open MPI loaded at run time through purego, so a plain build runs without it.
package dist
