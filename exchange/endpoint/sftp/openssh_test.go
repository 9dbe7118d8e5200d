package sftp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/endpointtest"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

func TestOpenSSHConformance(t *testing.T) {
	s := sshdtest.Start(t)
	endpointtest.Run(t, func(t *testing.T) endpointtest.Fixture {
		base := t.TempDir() // paths on a real sshd are absolute OS paths
		ep := New("p", sftptest.OpenSSH(t, s), nil, nil)
		t.Cleanup(func() { ep.Close() })
		return endpointtest.Fixture{EP: ep, Base: base, Disk: func(p string) string { return p }}
	})
}

func TestOpenSSHRefusals(t *testing.T) {
	s := sshdtest.Start(t)
	ctx := context.Background()
	list := func(cfg config.SFTP) (error, *observer.ObservedLogs) {
		core, logs := observer.New(zap.InfoLevel)
		ep := New("acme", cfg, zap.New(core), nil)
		defer ep.Close()
		_, err := ep.List(ctx, s.Root)
		return err, logs
	}
	t.Run("unknown host key", func(t *testing.T) {
		cfg := sftptest.OpenSSH(t, s)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(kh, []byte("[127.0.0.1]:1 "+authorized(t)+"\n"), 0o600) // another host only
		cfg.KnownHosts = kh
		err, logs := list(cfg)
		if !errors.Is(err, endpoint.ErrHostKeyUnknown) || !endpoint.IsPermanent(err) {
			t.Fatalf("err = %v, want permanent endpoint.ErrHostKeyUnknown", err)
		}
		// Which of its three keys the server presents is its choice.
		securityEvent(t, logs, "unknown", presentedOneOf(s.HostKeys))
	})
	t.Run("changed host key", func(t *testing.T) {
		cfg := sftptest.OpenSSH(t, s)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(kh, []byte("[127.0.0.1]:"+strconv.Itoa(s.Port)+" "+authorized(t)+"\n"), 0o600)
		cfg.KnownHosts = kh
		err, logs := list(cfg)
		if !errors.Is(err, endpoint.ErrHostKeyChanged) || !endpoint.IsPermanent(err) {
			t.Fatalf("err = %v, want permanent endpoint.ErrHostKeyChanged", err)
		}
		securityEvent(t, logs, "mismatch", s.Fingerprint)
	})
	t.Run("pinned fingerprint", func(t *testing.T) {
		cfg := sftptest.OpenSSH(t, s)
		cfg.KnownHosts, cfg.HostKey = "", s.Fingerprint
		if err, _ := list(cfg); err != nil {
			t.Fatalf("pinned right key: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		cfg := sftptest.OpenSSH(t, s)
		cfg.PrivateKey = config.Secret{}
		cfg.Password = config.Secret{Ref: "env:PW", Value: []byte("hunter2-wrong")}
		err, _ := list(cfg)
		if !errors.Is(err, endpoint.ErrAuth) || !endpoint.IsPermanent(err) || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("err = %v, want permanent endpoint.ErrAuth without the password", err)
		}
	})
	t.Run("key not authorized", func(t *testing.T) {
		cfg := sftptest.OpenSSH(t, s)
		cfg.PrivateKey = config.Secret{Ref: "env:K", Value: sftptest.NewKey(t, "").PEM}
		if err, _ := list(cfg); !errors.Is(err, endpoint.ErrAuth) {
			t.Fatalf("err = %v, want endpoint.ErrAuth", err)
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

// OpenSSH offers hardlink@openssh.com, so that Rename links and never
// replaces (exchange's TestOpenSSHHardlinkRename runs a delivery over it).
func TestOpenSSHOffersHardlink(t *testing.T) {
	s := sshdtest.Start(t)
	ep := New("p", sftptest.OpenSSH(t, s), nil, nil)
	defer ep.Close()
	c, err := ep.client_(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.HasExtension(hardlinkExtension); !ok {
		t.Fatal("OpenSSH does not offer hardlink@openssh.com")
	}
}

// On OpenSSH (hardlink@openssh.com) too, a rename onto another file alike
// to ours by lstat is endpoint.ErrExists, and our file stays.
func TestOpenSSHRenameOntoFileAlikeIsExists(t *testing.T) {
	s := sshdtest.Start(t)
	dir := t.TempDir()
	ep := New("p", sftptest.OpenSSH(t, s), nil, nil)
	defer ep.Close()
	final := filepath.Join(dir, "a.csv")
	tmp := filepath.Join(dir, ".exchanged-2-0-deadbeef.part")
	sftptest.WriteAlike(t, final, "AAAA earlier file", tmp, "BBBB our new file")
	if err := ep.Rename(t.Context(), tmp, final); !errors.Is(err, endpoint.ErrExists) {
		t.Errorf("Rename onto another file = %v, want endpoint.ErrExists", err)
	}
	if b, _ := os.ReadFile(tmp); string(b) != "BBBB our new file" {
		t.Errorf("our file = %q, want it kept", b)
	}
}
