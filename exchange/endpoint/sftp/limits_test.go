package sftp

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// claims is a small file of the shape a creditor sends.
var claims = []byte("Klantnummer;Naam;IBAN;Bedrag\r\nK-1;J. de Vries;NL91ABNA0417164300;1.234,56\r\n")

// TestOpenSSHPacketFromLimits: against a real OpenSSH sshd the endpoint
// reads limits@openssh.com and moves files in 255 KiB requests, many in
// flight, byte for byte, whatever the reader it uploads from.
func TestOpenSSHPacketFromLimits(t *testing.T) {
	s := sshdtest.Start(t)
	ep := New("p", sftptest.OpenSSH(t, s), nil, nil)
	t.Cleanup(func() { ep.Close() })
	testTransfers(t, ep, t.TempDir())
	if ep.packet != maxPacket {
		t.Errorf("packet = %d, want %d (OpenSSH announces 255 KiB in limits@openssh.com)", ep.packet, maxPacket)
	}
	if got := requestsPerFile(ep.packet); got != 32 {
		t.Errorf("requests per file = %d, want 32", got)
	}

	// A file small at open that grows past one request before the copy
	// is read whole: the caller, not the read, judges the size.
	p := filepath.Join(t.TempDir(), "growing.csv")
	os.WriteFile(p, claims, 0o644)
	r, err := ep.Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	more := bytes.Repeat(claims, 2*maxPacket/len(claims))
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(more)
	f.Close()
	var buf bytes.Buffer
	if n, err := io.Copy(&buf, r); err != nil || !bytes.Equal(buf.Bytes(), append(claims, more...)) {
		t.Fatalf("grown file: copied %d bytes, %v; want %d", n, err, len(claims)+len(more))
	}
}

// TestInprocPacketDefault: a server without limits@openssh.com gets the
// 32 KiB requests every server takes.
func TestInprocPacketDefault(t *testing.T) {
	srv := sftptest.StartInproc(t, sftpd.Options{})
	ep := New("p", srv.Config, nil, nil)
	t.Cleanup(func() { ep.Close() })
	testTransfers(t, ep, "/")
	if ep.packet != defaultPacket {
		t.Errorf("packet = %d, want %d", ep.packet, defaultPacket)
	}
}

// testTransfers uploads and downloads files of awkward sizes through ep
// and checks every byte.
func testTransfers(t *testing.T, ep *SFTP, dir string) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, defaultPacket, maxPacket + 1, 3<<20 + 7} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		local := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(local, data, 0o600); err != nil {
			t.Fatal(err)
		}
		readers := map[string]func() io.Reader{
			"os.File": func() io.Reader { f, _ := os.Open(local); t.Cleanup(func() { f.Close() }); return f },
			"stream":  func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, // size unknown
		}
		for name, open := range readers {
			p := path.Join(dir, "t_"+name+"_"+strconv.Itoa(size))
			w, err := ep.Create(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(w, open())
			if err == nil {
				err = w.Sync()
			}
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil || n != int64(size) {
				t.Fatalf("%s %d: wrote %d, %v", name, size, n, err)
			}
			r, err := ep.Open(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(struct{ io.Reader }{r}) // Read, in packet-sized requests
			r.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s %d: read back %d bytes, %v", name, size, len(got), err)
			}
			r, err = ep.Open(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			_, err = io.Copy(&buf, r) // WriteTo: concurrent reads
			r.Close()
			if err != nil || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("%s %d: copied back %d bytes, %v", name, size, buf.Len(), err)
			}
			if err := ep.Remove(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
}
