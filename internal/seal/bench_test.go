package seal

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// benchSize is what BenchmarkSeal streams through each way: enough to
// leave setup costs (key derivation, header) out of the figure.
const benchSize = 256 << 20

// zeros is an io.Reader of n zero bytes without allocating them.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// cpuTime is the CPU time (user and system, every thread) the process
// has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports MB of plaintext per CPU second since start (the
// figure that matters on a machine shared with other work, where MB/s
// of wall time also measures the neighbours).
func reportCPU(b *testing.B, start time.Duration) {
	if used := cpuTime(b) - start; used > 0 {
		b.ReportMetric(float64(b.N)*benchSize/1e6/used.Seconds(), "MB/cpu-s")
	}
}

// BenchmarkSeal streams 256 MiB through Seal (to io.Discard) and back
// through Open (from a file in the page cache), 64 KiB at a time as
// staging copies; b.SetBytes makes go test print MB/s of plaintext, and MB/cpu-s
// is MB of plaintext per CPU second.
func BenchmarkSeal(b *testing.B) {
	k := newKey(b)
	buf := make([]byte, 64<<10)
	b.Run("encrypt", func(b *testing.B) {
		b.SetBytes(benchSize)
		defer reportCPU(b, cpuTime(b))
		for i := 0; i < b.N; i++ {
			w, err := k.Seal(io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(w, &zeros{benchSize}, buf); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	p := filepath.Join(b.TempDir(), "sealed")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w, err := k.Seal(f)
	if err == nil {
		_, err = io.CopyBuffer(w, &zeros{benchSize}, buf)
	}
	if err == nil {
		err = w.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decrypt", func(b *testing.B) {
		b.SetBytes(benchSize)
		defer reportCPU(b, cpuTime(b))
		for i := 0; i < b.N; i++ {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			r, err := k.Open(f)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.CopyBuffer(io.Discard, r, buf)
			r.Close()
			if err != nil || n != benchSize {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		}
	})
}
