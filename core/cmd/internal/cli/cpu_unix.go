//go:build unix

package cli

import "syscall"

// CPUSeconds is the CPU time (user and system) all threads of this process have used,
// its own C libraries' (OpenBLAS) included.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
