package exchange

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"

	sftpep "github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/config"
)

// TestUploadHoleRemoved: with concurrent writes, a write that fails early
// in the file while the later ones succeed leaves a full-size file with a
// hole on the server. The delivery must fail and remove it: no temp file
// left, nothing under the final name, the file still staged.
func TestUploadHoleRemoved(t *testing.T) {
	cases := t.TempDir()
	mkdirs(t, cases, "outbox")
	data := bytes.Repeat(claims, 1+(1<<20)/len(claims)) // 1 MiB: 32 requests of 32 KiB
	os.WriteFile(filepath.Join(cases, "outbox", "claims_1.csv"), data, 0o644)

	srv := startHoleServer(t, 32<<10) // one request on a server without limits@openssh.com: fails the write at offset 32 KiB, takes the rest
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
	ep := sftpep.New("jansen", srv.cfg, nil, nil)
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
	key := sftptest.NewKey(t, "")
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	hostPriv, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sc := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), key.Signer.PublicKey().Marshal()) {
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
	tcp := ln.Addr().(*net.TCPAddr)
	host, port := tcp.IP.String(), tcp.Port
	hs.cfg = config.SFTP{Host: host, Port: port, User: "incasso",
		PrivateKey: config.Secret{Ref: "env:TEST_KEY", Value: key.PEM},
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
