package local

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/iotest"
)

// cutReader gives n bytes of r, then err.
type cutReader struct {
	r   io.Reader
	n   int
	err error
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, c.err
	}
	m, err := c.r.Read(p[:min(len(p), c.n)])
	c.n -= m
	return m, err
}

// TestPooledBuffersKeepFilesApart: ReadFrom's pooled buffers carry
// no byte of one file into another: files copied at once from readers of
// short reads, one cut short by an error, and one past two write-back
// steps, each hold exactly their own bytes.
func TestPooledBuffersKeepFilesApart(t *testing.T) {
	root := t.TempDir()
	ep := New(root)
	defer ep.Close()
	cut := errors.New("connection lost")
	const files = 8
	var wg sync.WaitGroup
	errs := make([]error, files)
	want := make([][]byte, files)
	for i := range files {
		size := 3*copyBuffer + 1000*i + 1
		if i == 0 {
			size = 2*(8<<20) + 12345 // past two write-back starts
		}
		data := bytes.Repeat([]byte{byte('A' + i)}, size)
		var src io.Reader = iotest.HalfReader(bytes.NewReader(data))
		want[i] = data
		if i%3 == 1 {
			src = &cutReader{r: bytes.NewReader(data), n: copyBuffer + 513, err: cut}
			want[i] = data[:copyBuffer+513]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("/f%d", i)
			w, err := ep.Create(t.Context(), name)
			if err != nil {
				errs[i] = err
				return
			}
			defer w.Close()
			n, err := w.(io.ReaderFrom).ReadFrom(src)
			if i%3 == 1 {
				if err != cut || n != int64(len(want[i])) {
					errs[i] = fmt.Errorf("%s: ReadFrom %d, %v; want %d, its reader's error", name, n, err, len(want[i]))
				}
				return
			}
			if err != nil || n != int64(len(data)) {
				errs[i] = fmt.Errorf("%s: ReadFrom %d of %d: %v", name, n, len(data), err)
				return
			}
			errs[i] = w.Sync()
		}()
	}
	wg.Wait()
	for i := range files {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		got, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("f%d", i)))
		if err != nil || !bytes.Equal(got, want[i]) {
			t.Fatalf("f%d holds %d bytes (want %d), or another file's: %v", i, len(got), len(want[i]), err)
		}
	}
}
