// Package peer holds what the real SFTP servers of the tests share: host and client keys,
// a free loopback port, a daemon that is started there (another port when that one is
// taken), waited for until a login works, restarted and killed with every session it
// forked (Daemon), the rule that a missing server skips a test, or fails it under CI=true,
// and the checks their own tests make of them.
package peer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// HostKey is one host key of a server, as an operator would pin it.
type HostKey struct {
	Type        string        // the key's type: ssh.KeyAlgoRSA, ssh.KeyAlgoECDSA256 or ssh.KeyAlgoED25519
	Path        string        // the private key file the server reads (0600)
	Signer      ssh.Signer    // the private key
	PublicKey   ssh.PublicKey // the public key
	Fingerprint string        // "SHA256:..." as ssh-keygen -l and ssh -v print it
	Line        string        // the public key line: "ssh-ed25519 AAAA..." (no newline, no comment)
}

// Key types for NewKey.
const (
	RSA     = ssh.KeyAlgoRSA
	ECDSA   = ssh.KeyAlgoECDSA256
	Ed25519 = ssh.KeyAlgoED25519
)

// rsaBits is the size of generated RSA keys: the smallest that servers still accept.
const rsaBits = 2048

// NewKey generates a key of type typ and writes its private half to path (0600): OpenSSH
// format, or, with pkcs1 and an RSA key, the traditional PEM "RSA PRIVATE KEY" form.
func NewKey(typ, path, comment string, pkcs1 bool) (HostKey, error) {
	var (
		priv any
		err  error
	)
	switch typ {
	case RSA:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case ECDSA:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return HostKey{}, fmt.Errorf("peer: key type %q", typ)
	}
	if err != nil {
		return HostKey{}, fmt.Errorf("peer: generate %s key: %w", typ, err)
	}
	var block *pem.Block
	if k, ok := priv.(*rsa.PrivateKey); ok && pkcs1 {
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	} else if block, err = ssh.MarshalPrivateKey(priv, comment); err != nil {
		return HostKey{}, fmt.Errorf("peer: marshal %s key: %w", typ, err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return HostKey{}, fmt.Errorf("peer: write key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return HostKey{}, fmt.Errorf("peer: signer: %w", err)
	}
	pub := signer.PublicKey()
	return HostKey{
		Type:        pub.Type(),
		Path:        path,
		Signer:      signer,
		PublicKey:   pub,
		Fingerprint: ssh.FingerprintSHA256(pub),
		Line:        strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
	}, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("peer: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Unavailable skips the test, or fails it when CI=true: CI must have a real peer. what
// names the server ("sshd", "proftpd").
func Unavailable(tb testing.TB, what string, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s unavailable (CI=true): %v", what, err)
		return
	}
	tb.Skipf("%s unavailable: %v", what, err)
}

// stopTimeout bounds the wait for a killed daemon's Wait.
const stopTimeout = 10 * time.Second

// Process is a daemon started by Start.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returned
	err  error         // cmd.Wait's result, set before done is closed
}

// Start starts cmd in a process group of its own (see SysProcAttr) and waits for it in the
// background.
func Start(cmd *exec.Cmd) (*Process, error) {
	cmd.SysProcAttr = SysProcAttr()
	// Sessions inherit the daemon's stderr; don't let one that outlives a kill hold Wait.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns Wait's result once Done is closed.
func (p *Process) Err() error { return p.err }

// Kill ends the daemon and its sessions (KillTree) and waits, bounded, for Wait to return.
func (p *Process) Kill() {
	KillTree(p.cmd.Process.Pid)
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
	}
}

// SafeDir creates a new directory (0755) whose every ancestor is owned by root and writable
// by no one else, as sshd's ChrootDirectory requires (a test's temp dir under /tmp is not),
// and removes it when tb's test ends. It needs root.
func SafeDir(tb testing.TB, pattern string) (string, error) {
	tb.Helper()
	for _, base := range []string{"/run", "/var/lib", "/srv", "/opt"} {
		if !rootOnly(base) {
			continue
		}
		dir, err := os.MkdirTemp(base, pattern)
		if err != nil {
			continue
		}
		tb.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			return "", fmt.Errorf("peer: %w", err)
		}
		return dir, nil
	}
	return "", fmt.Errorf("peer: no root-owned directory to create %s in", pattern)
}

// rootOnly reports whether dir and its ancestors are root's and writable by no one else.
func rootOnly(dir string) bool {
	for d := dir; ; {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o022 != 0 || !ownedByRoot(fi) {
			return false
		}
		if d == "/" {
			return true
		}
		d = parent(d)
	}
}

func parent(d string) string {
	i := strings.LastIndexByte(d, '/')
	if i <= 0 {
		return "/"
	}
	return d[:i]
}

// CheckHostKeys fails tb unless keys are of the types want, in that order, each as its
// Line and Fingerprint describe it, and unless each, pinned alone, lets user log in to addr
// with signer.
func CheckHostKeys(tb testing.TB, addr, user string, signer ssh.Signer, keys []HostKey, want []string) {
	tb.Helper()
	if len(keys) != len(want) {
		tb.Fatalf("HostKeys: %d, want %d", len(keys), len(want))
	}
	for i, k := range keys {
		algo := k.Type
		if algo == ssh.KeyAlgoRSA {
			algo = ssh.KeyAlgoRSASHA256
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Line))
		if k.Type != want[i] || err != nil || ssh.FingerprintSHA256(pub) != k.Fingerprint {
			tb.Fatalf("HostKeys[%d] = %s %s %q: %v", i, k.Type, k.Fingerprint, k.Line, err)
		}
		conn, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
			User:              user,
			Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback:   ssh.FixedHostKey(k.PublicKey),
			HostKeyAlgorithms: []string{algo},
			Timeout:           10 * time.Second,
		})
		if err != nil {
			tb.Fatalf("%s: %v", k.Type, err)
		}
		conn.Close()
	}
}
