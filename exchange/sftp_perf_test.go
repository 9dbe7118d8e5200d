package exchange

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// TestOpenSSHPacketFromLimits: against a real OpenSSH sshd the endpoint
// reads limits@openssh.com and moves files in 255 KiB requests, many in
// flight, byte for byte, whatever the reader it uploads from.
func TestOpenSSHPacketFromLimits(t *testing.T) {
	s := sshdtest.Start(t)
	ep := NewSFTP("p", opensshConfig(t, s), nil, nil)
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
	srv := startInproc(t, sftpd.Options{})
	ep := NewSFTP("p", srv.cfg, nil, nil)
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
			p := join(dir, "t_"+name+"_"+itoa(int64(size)))
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

// TestUploadHoleRemoved: with concurrent writes, a write that fails early
// in the file while the later ones succeed leaves a full-size file with a
// hole on the server. The delivery must fail and remove it: no temp file
// left, nothing under the final name, the file still staged.
func TestUploadHoleRemoved(t *testing.T) {
	cases := t.TempDir()
	mkdirs(t, cases, "outbox")
	data := bytes.Repeat(claims, 1+(1<<20)/len(claims)) // 1 MiB: 32 requests of 32 KiB
	os.WriteFile(filepath.Join(cases, "outbox", "claims_1.csv"), data, 0o644)

	srv := startHoleServer(t, defaultPacket) // fails the write at offset 32 KiB, takes the rest
	g := newRig(t, map[string]*config.Partner{
		"cases":  localPartner("internal", cases),
		"jansen": sftpPartner("internal", srv.cfg),
	}, map[string]*config.Job{"out": {
		Source:       config.Source{Partner: "cases", Dir: "/outbox", Match: "*.csv", Settle: settle(time.Second), After: "delete"},
		Destinations: []*config.Destination{{Partner: "jansen", Dir: "/in"}},
	}})
	res, err := g.run("out")
	if err == nil || res.Delivered != 0 || res.Failed != 1 {
		t.Fatalf("run = %+v, %v; want the delivery failed", res, err)
	}
	if !srv.laterWrites.Load() {
		t.Fatal("no write after the failed one reached the server: the test did not make a hole")
	}
	ep := NewSFTP("jansen", srv.cfg, nil, nil)
	defer ep.Close()
	ents, err := ep.List(context.Background(), "/in")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left at the destination: %s (%d of %d bytes)", e.Name, e.Size, len(data))
	}
	pend, _ := g.ledger.Pending("out")
	if len(pend) != 1 {
		t.Fatalf("pending = %+v, want the file kept staged", pend)
	}
}

// holeServer is an in-memory SFTP server whose writes at one offset fail.
type holeServer struct {
	cfg         config.SFTP
	laterWrites atomic.Bool // a write beyond the failed offset succeeded
}

func startHoleServer(t *testing.T, failAt int64) *holeServer {
	t.Helper()
	hs := &holeServer{}
	key := newClientKey(t, "")
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	hostPriv, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sc := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), key.signer.PublicKey().Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	sc.AddHostKey(hostPriv)
	mem := sftp.InMemHandler()
	handlers := sftp.Handlers{FileGet: mem.FileGet, FileCmd: mem.FileCmd, FileList: mem.FileList,
		FilePut: holePut{mem.FilePut, failAt, &hs.laterWrites}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveHole(nc, sc, handlers) })
		}
	})
	// The destination directory.
	if err := mem.FileCmd.Filecmd(sftp.NewRequest("Mkdir", "/in")); err != nil {
		t.Fatal(err)
	}
	host, port := splitHostPort(t, ln.Addr().String())
	hs.cfg = config.SFTP{Host: host, Port: port, User: "incasso",
		PrivateKey: config.Secret{Ref: "env:TEST_KEY", Value: key.pem},
		HostKey:    ssh.FingerprintSHA256(hostPriv.PublicKey()),
		Timeout:    config.Duration(10 * time.Second)}
	return hs
}

func serveHole(nc net.Conn, sc *ssh.ServerConfig, h sftp.Handlers) {
	defer nc.Close()
	_, chans, reqs, err := ssh.NewServerConn(nc, sc)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, in, err := nch.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range in {
				ok := req.Type == "subsystem" && strings.HasSuffix(string(req.Payload), "sftp")
				req.Reply(ok, nil)
				if ok {
					go func() {
						rs := sftp.NewRequestServer(ch, h)
						rs.Serve()
						rs.Close()
						ch.Close()
					}()
				}
			}
		}()
	}
}

type holePut struct {
	sftp.FileWriter
	failAt int64
	later  *atomic.Bool
}

func (p holePut) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	w, err := p.FileWriter.Filewrite(r)
	if err != nil {
		return nil, err
	}
	return holeWriter{w, p.failAt, p.later}, nil
}

type holeWriter struct {
	io.WriterAt
	failAt int64
	later  *atomic.Bool
}

func (w holeWriter) WriteAt(b []byte, off int64) (int, error) {
	if off == w.failAt {
		return 0, errors.New("injected write failure")
	}
	n, err := w.WriterAt.WriteAt(b, off)
	if err == nil && off > w.failAt {
		w.later.Store(true)
	}
	return n, err
}
