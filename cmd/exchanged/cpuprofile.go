//go:build cpuprofile

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
)

// With the cpuprofile tag (never in a release build), EXCHANGED_CPUPROFILE
// names a file (its %s: the binary's name, %d: the process id) that gets
// a CPU profile of the whole process: for BENCHMARKS.md's profiles of
// `exchanged once`, built by the bench with GOFLAGS=-tags=cpuprofile.
//
// EXCHANGED_STDERR names a file (%s and %d as above) that gets what the
// process writes to stderr, its log among it: the bench discards that of
// a run that succeeds.
func init() {
	if p := os.Getenv("EXCHANGED_STDERR"); p != "" {
		if f, err := os.Create(name(p)); err == nil {
			os.Stderr = f
		}
	}
	path := os.Getenv("EXCHANGED_CPUPROFILE")
	if path == "" {
		return
	}
	profile = func() func() {
		f, err := os.Create(name(path))
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

// name fills in the pattern p: %s the binary's name, %d the process id.
func name(p string) string {
	p = strings.ReplaceAll(p, "%s", filepath.Base(os.Args[0]))
	return strings.ReplaceAll(p, "%d", strconv.Itoa(os.Getpid()))
}
