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
// sealed (0600, no plaintext on disk), and reads back whole, by Read and
// by WriteTo.
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
		for _, read := range []string{"read", "writeto"} {
			sf, err := s.Open(id, "claims.csv")
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if read == "read" {
				_, err = io.Copy(&got, struct{ io.Reader }{sf})
			} else {
				_, err = sf.WriteTo(&got)
			}
			sf.Close()
			if err != nil || !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("%s, %s back: %d of %d bytes, %v", how, read, got.Len(), len(data), err)
			}
		}
	}
}

// readFromDst records whether its ReadFrom was used.
type readFromDst struct {
	bytes.Buffer
	used bool
}

func (d *readFromDst) ReadFrom(r io.Reader) (int64, error) {
	d.used = true
	return d.Buffer.ReadFrom(r)
}

// TestReadFromDrivenByDestination: an upload is driven by the
// destination's ReadFrom (the SFTP endpoint's concurrent writes) even
// from a staged file, which has WriteTo that io.Copy would prefer; a
// destination without one gets the staged file's WriteTo.
func TestReadFromDrivenByDestination(t *testing.T) {
	s, err := OpenStaging(filepath.Join(t.TempDir(), "staging"), stagingKey(t))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.Receive(1, "claims.csv")
	st.Write(claims)
	if _, _, err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	sf, err := s.Open(1, "claims.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	var d readFromDst
	if n, err := readFrom(&d, sf); err != nil || n != int64(len(claims)) || !d.used || !bytes.Equal(d.Bytes(), claims) {
		t.Fatalf("readFrom = %d, %v, ReadFrom used %v", n, err, d.used)
	}
	sf.Seek(0, io.SeekStart)
	var plain bytes.Buffer
	if n, err := readFrom(struct{ io.Writer }{&plain}, sf); err != nil || n != int64(len(claims)) || !bytes.Equal(plain.Bytes(), claims) {
		t.Fatalf("readFrom without ReadFrom = %d, %v", n, err)
	}
}
