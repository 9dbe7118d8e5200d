package sftp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"github.com/exchanged/exchanged/internal/proftpdtest"
	"github.com/exchanged/exchanged/internal/sshdtest"
	"github.com/exchanged/exchanged/internal/sshdtest/peer"
)

// realServer is a running real SFTP server: its endpoint config (through
// its own known_hosts), its host keys, and a directory to list.
type realServer struct {
	name string
	cfg  config.SFTP
	keys []peer.HostKey
	dir  string
}

// realServers starts OpenSSH's sshd (RSA, ECDSA, Ed25519) and ProFTPD
// (RSA, Ed25519).
func realServers(t *testing.T) []realServer {
	o, p := sshdtest.Start(t), proftpdtest.Start(t)
	return []realServer{
		{"openssh", sftptest.OpenSSH(t, o), o.HostKeys, o.Root},
		{"proftpd", sftptest.ProFTPD(t, p), p.HostKeys, "/"},
	}
}

// dialList lists srv.dir with cfg, twice on one endpoint (a redial after
// Close), and returns the first error and the log.
func dialList(t *testing.T, srv realServer, cfg config.SFTP) (*SFTP, error, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	ep := New("acme", cfg, zap.New(core), nil)
	t.Cleanup(func() { ep.Close() })
	ctx := context.Background()
	if _, err := ep.List(ctx, srv.dir); err != nil {
		return ep, err, logs
	}
	ep.Close()
	_, err := ep.List(ctx, srv.dir)
	return ep, err, logs
}

// TestPinEachHostKey: a pin of any one of a server's keys connects, in
// each form an operator may copy it: the fingerprint alone (ssh-keygen
// -lf), with its type (ssh -v), or the public key line (ssh-keyscan).
func TestPinEachHostKey(t *testing.T) {
	for _, srv := range realServers(t) {
		for _, k := range srv.keys {
			for form, pin := range map[string]string{
				"fingerprint":      k.Fingerprint,
				"type fingerprint": k.Type + " " + k.Fingerprint,
				"key line":         k.Line + " root@partner",
			} {
				t.Run(srv.name+"/"+k.Type+"/"+form, func(t *testing.T) {
					cfg := srv.cfg
					cfg.KnownHosts, cfg.HostKey = "", pin
					ep, err, logs := dialList(t, srv, cfg)
					if err != nil {
						t.Fatalf("pinned %s: %v", pin, err)
					}
					if n := logs.FilterField(zap.Bool("security", true)).Len(); n != 0 {
						t.Fatalf("%d security events for the right key", n)
					}
					// A search's result is kept for the next dial, unless
					// the default found the key at once.
					if ep.found != nil && !slices.Equal(ep.found, algorithmsFor(k.Type)) {
						t.Errorf("found = %v, want %v", ep.found, algorithmsFor(k.Type))
					}
				})
			}
		}
	}
}

// TestPinWrongKeyRefused: a pin of no key of the server is refused,
// permanently, with one security event naming what the server presented;
// a bare fingerprint is refused only after every key type it has.
func TestPinWrongKeyRefused(t *testing.T) {
	other, err := peer.NewKey(peer.Ed25519, filepath.Join(t.TempDir(), "k"), "", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range realServers(t) {
		var all []string
		for _, k := range srv.keys {
			all = append(all, k.Fingerprint)
		}
		for form, pin := range map[string]string{
			"fingerprint":      other.Fingerprint,
			"type fingerprint": "ssh-ed25519 " + other.Fingerprint,
			"key line":         other.Line,
			"type of another":  "ssh-rsa " + srv.keys[len(srv.keys)-1].Fingerprint, // the Ed25519 key's
		} {
			t.Run(srv.name+"/"+form, func(t *testing.T) {
				cfg := srv.cfg
				cfg.KnownHosts, cfg.HostKey = "", pin
				_, err, logs := dialList(t, srv, cfg)
				if !errors.Is(err, endpoint.ErrHostKeyChanged) || !endpoint.IsPermanent(err) {
					t.Fatalf("err = %v, want permanent endpoint.ErrHostKeyChanged", err)
				}
				securityEvent(t, logs, "mismatch", strings.Join(all, ", "))
				if form == "fingerprint" {
					// Every key the server has was looked at.
					p := logs.FilterMessage("host key refused").All()[0].ContextMap()["presented"].(string)
					for _, fp := range all {
						if !strings.Contains(p, fp) {
							t.Errorf("presented %q lacks %s", p, fp)
						}
					}
				}
			})
		}
	}
}

// TestPinTypeServerLacks: a pin of a key type the server has no key of.
func TestPinTypeServerLacks(t *testing.T) {
	p := proftpdtest.Start(t)
	srv := realServer{"proftpd", sftptest.ProFTPD(t, p), p.HostKeys, "/"}
	key := newECDSA(t, elliptic.P256())
	cfg := srv.cfg
	cfg.KnownHosts, cfg.HostKey = "", "ecdsa-sha2-nistp256 "+ssh.FingerprintSHA256(key)
	_, err, logs := dialList(t, srv, cfg)
	if !errors.Is(err, endpoint.ErrHostKeyChanged) || !endpoint.IsPermanent(err) || !strings.Contains(err.Error(), "ecdsa-sha2-nistp256") {
		t.Fatalf("err = %v, want permanent endpoint.ErrHostKeyChanged naming the type", err)
	}
	offeredEvent(t, logs)
}

// TestKnownHostsSeveralKeyTypes: known_hosts with a line per key of the
// server, or with a line for any one of them, connects.
func TestKnownHostsSeveralKeyTypes(t *testing.T) {
	for _, srv := range realServers(t) {
		host := knownhosts.Normalize(srv.cfg.Address())
		var lines []string
		for _, k := range srv.keys {
			lines = append(lines, knownhosts.Line([]string{host}, k.PublicKey))
		}
		sets := map[string][]string{"all": lines}
		for i, k := range srv.keys {
			sets[k.Type+" only"] = lines[i : i+1]
		}
		for name, set := range sets {
			t.Run(srv.name+"/"+name, func(t *testing.T) {
				cfg := srv.cfg
				cfg.KnownHosts = writeKnownHosts(t, set...)
				if _, err, _ := dialList(t, srv, cfg); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestKnownHostsRefusals: every refused host key is a permanent failure
// and a security event: a key marked @revoked, and a host known only under
// a key type the server has no key of.
func TestKnownHostsRefusals(t *testing.T) {
	for _, srv := range realServers(t) {
		host := knownhosts.Normalize(srv.cfg.Address())
		ed := srv.keys[len(srv.keys)-1]
		t.Run(srv.name+"/revoked", func(t *testing.T) {
			cfg := srv.cfg
			cfg.KnownHosts = writeKnownHosts(t, knownhosts.Line([]string{host}, ed.PublicKey),
				"@revoked * "+ed.Line)
			_, err, logs := dialList(t, srv, cfg)
			if !errors.Is(err, endpoint.ErrHostKeyRevoked) || !errors.Is(err, endpoint.ErrHostKeyChanged) || !endpoint.IsPermanent(err) {
				t.Fatalf("err = %v, want permanent endpoint.ErrHostKeyRevoked", err)
			}
			securityEvent(t, logs, "revoked", ed.Fingerprint)
		})
		t.Run(srv.name+"/other key type only", func(t *testing.T) {
			// Neither server has an ECDSA P-384 key.
			cfg := srv.cfg
			cfg.KnownHosts = writeKnownHosts(t, knownhosts.Line([]string{host}, newECDSA(t, elliptic.P384())))
			_, err, logs := dialList(t, srv, cfg)
			if !errors.Is(err, endpoint.ErrHostKeyChanged) || !endpoint.IsPermanent(err) {
				t.Fatalf("err = %v, want permanent endpoint.ErrHostKeyChanged", err)
			}
			offeredEvent(t, logs)
		})
	}
}

// offeredEvent asserts one security event for a server that presented no
// key, naming the algorithms it offers.
func offeredEvent(t *testing.T, logs *observer.ObservedLogs) {
	t.Helper()
	ev := logs.FilterMessage("host key refused").All()
	if len(ev) != 1 {
		t.Fatalf("want one security event, got %d", len(ev))
	}
	f := ev[0].ContextMap()
	offered, _ := f["offered"].([]any)
	if f["security"] != true || f["outcome"] != "mismatch" || len(offered) == 0 || f["partner"] != "acme" {
		t.Fatalf("security event = %v", f)
	}
}

// TestDialTimeout: a server that accepts TCP and never speaks SSH fails
// the dial after the configured timeout, saying so, as a transient error.
func TestDialTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for range 10 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // silent until the test ends
		}
	})
	tcp := ln.Addr().(*net.TCPAddr)
	host, port := tcp.IP.String(), tcp.Port
	key := sftptest.NewKey(t, "")
	cfg := config.SFTP{Host: host, Port: port, User: "u", HostKey: "SHA256:Wuad6I6hqDpiy6PvDb8acUGiRkfqgeVX6/j6V2huHoI",
		PrivateKey: config.Secret{Ref: "env:K", Value: key.PEM}, Timeout: config.Duration(300 * time.Millisecond)}
	ep := New("acme", cfg, nil, nil)
	defer ep.Close()
	start := time.Now()
	_, err = ep.List(context.Background(), "/")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") || strings.Contains(err.Error(), "closed network connection") {
		t.Fatalf("err = %v, want one that says it timed out after 300ms", err)
	}
	if !endpoint.IsTransient(err) || endpoint.IsPermanent(err) {
		t.Fatalf("err = %v: want transient", err)
	}
	if took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
}

func newECDSA(t *testing.T, curve elliptic.Curve) ssh.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
