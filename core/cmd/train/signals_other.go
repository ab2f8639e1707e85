//go:build !unix

package main

import (
	"os"
	"syscall"
)

// stopSignals end a run after its current step with a checkpoint.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}
