// Package blas holds the float32 BLAS used by every kernel, chosen once at start-up:
// OpenBLAS loaded at run time where the shared library exists, gonum's pure Go otherwise.
package blas
