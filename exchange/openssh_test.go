package exchange

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// opensshConfig returns the endpoint config for a real sshd, verifying its
// host key through the known_hosts file the harness wrote.
func opensshConfig(t testing.TB, s *sshdtest.Server) config.SFTP {
	t.Helper()
	key, err := os.ReadFile(s.ClientKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	return config.SFTP{Host: s.Host, Port: s.Port, User: s.User,
		PrivateKey: config.Secret{Ref: "file:" + s.ClientKeyPath, Value: key},
		KnownHosts: s.KnownHostsPath, Timeout: config.Duration(10 * time.Second)}
}

func TestOpenSSHConformance(t *testing.T) {
	s := sshdtest.Start(t)
	testConformance(t, func(t *testing.T) fixture {
		base := t.TempDir() // paths on a real sshd are absolute OS paths
		ep := NewSFTP("p", opensshConfig(t, s), nil, nil)
		t.Cleanup(func() { ep.Close() })
		return fixture{ep: ep, base: base, disk: func(p string) string { return p }}
	})
}

func TestOpenSSHEndToEnd(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	in, out := t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, out, "in")
	big := bytes.Repeat(claims, 20000) // ~1.4 MB: many packets, concurrent reads and writes
	os.WriteFile(filepath.Join(in, "outbox", "claims_big.csv"), big, 0o644)
	os.WriteFile(filepath.Join(in, "outbox", "claims_small.csv"), claims, 0o644)
	g := newRig(t, map[string]*config.Partner{
		"acme":   sftpPartner("creditor", opensshConfig(t, src)),
		"jansen": sftpPartner("internal", opensshConfig(t, dst)),
	}, map[string]*config.Job{"j": {
		Source:       config.Source{Partner: "acme", Dir: filepath.Join(in, "outbox"), Match: "claims_*.csv", Settle: settle(time.Second), After: "delete"},
		Destinations: []*config.Destination{{Partner: "jansen", Dir: filepath.Join(out, "in"), DoneMarker: ".done"}},
	}})
	res, err := g.run("j")
	if err != nil || res.Files != 2 || res.Delivered != 2 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	for name, want := range map[string][]byte{"claims_big.csv": big, "claims_small.csv": claims} {
		got, err := os.ReadFile(filepath.Join(out, "in", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d identical bytes", name, len(got), err, len(want))
		}
		if _, err := os.Stat(filepath.Join(out, "in", name+".done")); err != nil {
			t.Errorf("%s: no done marker", name)
		}
		if _, err := os.Stat(filepath.Join(in, "outbox", name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still at the source", name)
		}
	}
	assertNoTempFiles(t, out)
	g.stagingEmpty()
	runs, err := g.ledger.Runs("j", 1)
	if err != nil || len(runs) != 1 || runs[0].Outcome != "ok" || runs[0].Files != 2 {
		t.Fatalf("ledger runs = %+v, %v", runs, err)
	}
	pend, _ := g.ledger.Pending("j")
	if len(pend) != 0 {
		t.Fatalf("pending = %+v", pend)
	}
	g.checkLogs("J. de Vries", "NL91ABNA0417164300", "1.234,56")
}

func TestOpenSSHRefusals(t *testing.T) {
	s := sshdtest.Start(t)
	ctx := context.Background()
	list := func(cfg config.SFTP) (error, *observer.ObservedLogs) {
		core, logs := observer.New(zap.InfoLevel)
		ep := NewSFTP("acme", cfg, zap.New(core), nil)
		defer ep.Close()
		_, err := ep.List(ctx, s.Root)
		return err, logs
	}
	t.Run("unknown host key", func(t *testing.T) {
		cfg := opensshConfig(t, s)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(kh, []byte("[127.0.0.1]:1 "+authorized(t)+"\n"), 0o600) // another host only
		cfg.KnownHosts = kh
		err, logs := list(cfg)
		if !errors.Is(err, ErrHostKeyUnknown) || !IsPermanent(err) {
			t.Fatalf("err = %v, want permanent ErrHostKeyUnknown", err)
		}
		// Which of its three keys the server presents is its choice.
		securityEvent(t, logs, "unknown", presentedOneOf(s.HostKeys))
	})
	t.Run("changed host key", func(t *testing.T) {
		cfg := opensshConfig(t, s)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(kh, []byte("[127.0.0.1]:"+itoa(int64(s.Port))+" "+authorized(t)+"\n"), 0o600)
		cfg.KnownHosts = kh
		err, logs := list(cfg)
		if !errors.Is(err, ErrHostKeyChanged) || !IsPermanent(err) {
			t.Fatalf("err = %v, want permanent ErrHostKeyChanged", err)
		}
		securityEvent(t, logs, "mismatch", s.Fingerprint)
	})
	t.Run("pinned fingerprint", func(t *testing.T) {
		cfg := opensshConfig(t, s)
		cfg.KnownHosts, cfg.HostKey = "", s.Fingerprint
		if err, _ := list(cfg); err != nil {
			t.Fatalf("pinned right key: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		cfg := opensshConfig(t, s)
		cfg.PrivateKey = config.Secret{}
		cfg.Password = config.Secret{Ref: "env:PW", Value: []byte("hunter2-wrong")}
		err, _ := list(cfg)
		if !errors.Is(err, ErrAuth) || !IsPermanent(err) || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("err = %v, want permanent ErrAuth without the password", err)
		}
	})
	t.Run("key not authorized", func(t *testing.T) {
		cfg := opensshConfig(t, s)
		cfg.PrivateKey = config.Secret{Ref: "env:K", Value: newClientKey(t, "").pem}
		if err, _ := list(cfg); !errors.Is(err, ErrAuth) {
			t.Fatalf("err = %v, want ErrAuth", err)
		}
	})
}

// securityEvent asserts one refused host key logged as a security event;
// presented is the fingerprint it names, or those it may name,
// ", "-separated: the event names one or more of them.
func securityEvent(t *testing.T, logs *observer.ObservedLogs, outcome, presented string) {
	t.Helper()
	ev := logs.FilterMessage("host key refused").All()
	if len(ev) != 1 {
		t.Fatalf("want one security event, got %d", len(ev))
	}
	f := ev[0].ContextMap()
	p, _ := f["presented"].(string)
	ok := p != ""
	for _, fp := range strings.Split(p, ", ") {
		ok = ok && slices.Contains(strings.Split(presented, ", "), fp)
	}
	if f["security"] != true || f["outcome"] != outcome || !ok || f["partner"] != "acme" {
		t.Fatalf("security event = %v, want outcome %s presenting %s", f, outcome, presented)
	}
}

// presentedOneOf is the argument to securityEvent for a server that may
// present any of keys.
func presentedOneOf(keys []sshdtest.HostKey) string {
	var fps []string
	for _, k := range keys {
		fps = append(fps, k.Fingerprint)
	}
	return strings.Join(fps, ", ")
}

// authorized returns a fresh ed25519 public key in known_hosts form.
func authorized(t *testing.T) string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// TestOpenSSHPeerDownAndBack: a destination that is down keeps the file
// staged; once it is back, the next run delivers it exactly once.
func TestOpenSSHPeerDownAndBack(t *testing.T) {
	s := sshdtest.Start(t)
	g, out := pushRig(t, s, settle(time.Second))
	s.Stop()
	if _, err := g.run("out"); err == nil {
		t.Fatal("run with the peer down succeeded")
	}
	s.Restart(t)
	res, err := g.run("out")
	if err != nil || res.Files != 1 || res.Delivered != 1 {
		t.Fatalf("after restart: %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.csv")); !bytes.Equal(b, claims) {
		t.Fatal("not delivered")
	}
	f, _ := g.ledger.Pending("out")
	if len(f) != 0 {
		t.Fatalf("pending %v", f)
	}
}

// pushRig is job "out": a.csv from a local outbox to dir out on a real
// sshd (partner acme).
func pushRig(t *testing.T, s *sshdtest.Server, settleFor *config.Duration) (*rig, string) {
	t.Helper()
	in, out := t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox")
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	g := newRig(t, map[string]*config.Partner{
		"cases": localPartner("internal", in),
		"acme":  sftpPartner("creditor", opensshConfig(t, s)),
	}, map[string]*config.Job{"out": {Source: config.Source{Partner: "cases", Dir: "/outbox", Settle: settleFor},
		Destinations: []*config.Destination{{Partner: "acme", Dir: out}}}})
	return g, out
}

// On OpenSSH (hardlink@openssh.com) too, a rename onto another file alike
// to ours by lstat is ErrExists, and our file stays.
func TestOpenSSHRenameOntoFileAlikeIsExists(t *testing.T) {
	s := sshdtest.Start(t)
	dir := t.TempDir()
	ep := NewSFTP("p", opensshConfig(t, s), nil, nil)
	defer ep.Close()
	final := filepath.Join(dir, "a.csv")
	tmp := filepath.Join(dir, ".exchanged-2-0-deadbeef.part")
	writeAlike(t, final, "AAAA earlier file", tmp, "BBBB our new file")
	if err := ep.Rename(t.Context(), tmp, final); !errors.Is(err, ErrExists) {
		t.Errorf("Rename onto another file = %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(tmp); string(b) != "BBBB our new file" {
		t.Errorf("our file = %q, want it kept", b)
	}
}
