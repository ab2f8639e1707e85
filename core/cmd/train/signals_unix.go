//go:build unix

package main

import (
	"os"
	"syscall"
)

// stopSignals end a run after its current step with a checkpoint. SIGUSR1 is the one to
// send to mpirun: it forwards it to every rank, while on SIGINT and SIGTERM it kills them.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGUSR1}
