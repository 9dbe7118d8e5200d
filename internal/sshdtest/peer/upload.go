package peer

import (
	"bytes"
	"os"
	"testing"

	"github.com/pkg/sftp"
)

// Upload creates remote (which must not exist) through c, writes content to it and closes
// it, and fails tb unless onDisk, the same file as the server stores it, then holds content.
func Upload(tb testing.TB, c *sftp.Client, remote, onDisk string, content []byte) {
	tb.Helper()
	w, err := c.OpenFile(remote, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if b, err := os.ReadFile(onDisk); err != nil || !bytes.Equal(b, content) {
		tb.Fatalf("on disk: %d bytes, %v; want %d bytes", len(b), err, len(content))
	}
}
