package exchange

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// TestStagedWriteAndReadFrom: a file of several seal chunks staged by
// Write (as an SFTP pull's WriteTo does) or by ReadFrom (as a local
// source's copy does) commits with the plaintext's size and sha256, rests
// sealed (0600, no plaintext on disk), and reads back whole.
func TestStagedWriteAndReadFrom(t *testing.T) {
	s, err := OpenStaging(filepath.Join(t.TempDir(), "staging"), stagingKey(t))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	for id, how := range map[int64]string{1: "write", 2: "readfrom"} {
		st, err := s.Receive(id, "claims.csv")
		if err != nil {
			t.Fatal(err)
		}
		switch how {
		case "write":
			_, err = io.Copy(struct{ io.Writer }{st}, iotest.HalfReader(bytes.NewReader(data)))
		default:
			_, err = io.Copy(st, struct{ io.Reader }{bytes.NewReader(data)})
		}
		if err != nil {
			t.Fatal(err)
		}
		n, h, err := st.Commit()
		if err != nil || n != int64(len(data)) || h != sum(data) {
			t.Fatalf("%s: commit = %d, %s, %v; want %d, %s", how, n, h, err, len(data), sum(data))
		}
		p := s.Path(id, "claims.csv")
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != stagingFileMode {
			t.Fatalf("%s: staged copy %v, %v; want mode %o", how, fi, err, stagingFileMode)
		}
		disk, _ := os.ReadFile(p)
		if bytes.Contains(disk, data[1000:1064]) {
			t.Fatalf("%s: plaintext on disk", how)
		}
		sf, err := s.Open(id, "claims.csv")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(sf)
		sf.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s, read back: %d of %d bytes, %v", how, len(got), len(data), err)
		}
	}
}
