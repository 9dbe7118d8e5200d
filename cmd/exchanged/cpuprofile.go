//go:build cpuprofile

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// With the cpuprofile tag (never in a release build), EXCHANGED_CPUPROFILE
// names a file (its %d: the process id) that gets a CPU profile of the
// whole process: for BENCHMARKS.md's profiles of `exchanged once`, built by
// the bench with GOFLAGS=-tags=cpuprofile.
//
// EXCHANGED_STDERR names a file (%d as above) that gets what the process
// writes to stderr, its log among it: the bench discards that of a run
// that succeeds.
func init() {
	if p := os.Getenv("EXCHANGED_STDERR"); p != "" {
		if f, err := os.Create(fmt.Sprintf(p, os.Getpid())); err == nil {
			os.Stderr = f
		}
	}
	path := os.Getenv("EXCHANGED_CPUPROFILE")
	if path == "" {
		return
	}
	profile = func() func() {
		f, err := os.Create(fmt.Sprintf(path, os.Getpid()))
		if err != nil {
			fmt.Fprintln(os.Stderr, "exchanged: cpuprofile:", err)
			return func() {}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "exchanged: cpuprofile:", err)
			f.Close()
			return func() {}
		}
		return func() { pprof.StopCPUProfile(); f.Close() }
	}
}
