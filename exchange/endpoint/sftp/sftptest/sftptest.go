// Package sftptest starts SFTP servers for tests and returns the endpoint
// config that reaches each, its host key pinned or in a known_hosts file:
// the in-process server of internal/sftpd, a real OpenSSH (sshdtest) and
// a real ProFTPD (proftpdtest).
package sftptest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/proftpdtest"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// Key is a client key: ed25519 in OpenSSH PEM form, and its signer.
type Key struct {
	PEM    []byte
	Signer ssh.Signer
}

// NewKey generates a client key, encrypted with passphrase if it is not
// empty.
func NewKey(t testing.TB, passphrase string) Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return Key{PEM: pem.EncodeToMemory(block), Signer: s}
}

// Inproc is a running in-process SFTP server, the directory it serves,
// and the config to reach it (its host key pinned).
type Inproc struct {
	Server *sftpd.Server
	Root   string
	Config config.SFTP
}

// StartInproc starts an in-process SFTP server with opts, on a new
// temporary root and as user incasso unless opts say otherwise, that
// accepts a new client key besides opts' own. It stops with the test.
func StartInproc(t testing.TB, opts sftpd.Options) *Inproc {
	t.Helper()
	key := NewKey(t, "")
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	if opts.User == "" {
		opts.User = "incasso"
	}
	opts.AuthorizedKeys = append(opts.AuthorizedKeys, key.Signer.PublicKey())
	srv, err := sftpd.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	host, port := splitHostPort(t, srv.Addr())
	return &Inproc{Server: srv, Root: opts.Root, Config: config.SFTP{
		Host: host, Port: port, User: opts.User,
		PrivateKey: config.Secret{Ref: "env:TEST_KEY", Value: key.PEM},
		HostKey:    srv.Fingerprint(),
		Timeout:    config.Duration(10 * time.Second),
	}}
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	return addr[:i], port
}

// OpenSSH returns the endpoint config for a real sshd, verifying its host
// key through the known_hosts file the harness wrote.
func OpenSSH(t testing.TB, s *sshdtest.Server) config.SFTP {
	t.Helper()
	return clientConfig(t, s.Host, s.Port, s.User, s.ClientKeyPath, s.KnownHostsPath)
}

// ProFTPD returns the endpoint config for a real ProFTPD, verifying its
// host key through the known_hosts file the harness wrote (a line for
// each of its keys).
func ProFTPD(t testing.TB, s *proftpdtest.Server) config.SFTP {
	t.Helper()
	return clientConfig(t, s.Host, s.Port, s.User, s.ClientKeyPath, s.KnownHostsPath)
}

func clientConfig(t testing.TB, host string, port int, user, keyPath, knownHosts string) config.SFTP {
	t.Helper()
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return config.SFTP{Host: host, Port: port, User: user,
		PrivateKey: config.Secret{Ref: "file:" + keyPath, Value: key},
		KnownHosts: knownHosts, Timeout: config.Duration(10 * time.Second)}
}

// WriteAlike writes two files, a with adata and b with bdata (of one
// length), of one mtime (seconds): alike to an SFTP lstat (size, mtime,
// mode, owner, group), which shows no inode.
func WriteAlike(t testing.TB, a, adata, b, bdata string) {
	t.Helper()
	ts := time.Now().Truncate(time.Second)
	for _, f := range [][2]string{{a, adata}, {b, bdata}} {
		if err := os.WriteFile(f[0], []byte(f[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f[0], ts, ts); err != nil {
			t.Fatal(err)
		}
	}
}
