//go:build !unix

package cli

// CPUSeconds is not measured here: it is 0, and callers leave their CPU figures out.
func CPUSeconds() float64 { return 0 }
