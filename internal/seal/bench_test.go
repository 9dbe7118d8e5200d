package seal

import (
	"io"
	"os"
	"path/filepath"
	"testing"
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

// BenchmarkSeal streams 256 MiB through Seal (to io.Discard) and back
// through Open (from a file in the page cache), 64 KiB at a time as
// staging copies; b.SetBytes makes go test print MB/s of plaintext.
func BenchmarkSeal(b *testing.B) {
	k := newKey(b)
	buf := make([]byte, 64<<10)
	b.Run("encrypt", func(b *testing.B) {
		b.SetBytes(benchSize)
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
