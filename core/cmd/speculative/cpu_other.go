//go:build !unix

package main

import "time"

var started = time.Now()

// cpuSeconds has no CPU clock to read here: it is the wall time since the start, so the
// CPU ratio repeats the wall-time ratio.
func cpuSeconds() float64 { return time.Since(started).Seconds() }
