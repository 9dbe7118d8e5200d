package writeback

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestWriterWritesAll: written through a Writer in pieces of odd sizes,
// past several write-back starts, the file holds every byte in order.
func TestWriterWritesAll(t *testing.T) {
	data := make([]byte, 2*Every+12345)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := New(f)
	for rest := data; len(rest) > 0; {
		n, err := w.Write(rest[:min(len(rest), 777777)])
		if err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	// Started at every Every bytes: the last start is less than Every
	// from the end.
	if w.start <= int64(len(data))-Every {
		t.Fatalf("write-back started up to %d of %d bytes", w.start, len(data))
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file holds %d of %d bytes, or other bytes: %v", len(got), len(data), err)
	}
}
