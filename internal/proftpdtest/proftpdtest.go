package proftpdtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/exchanged/exchanged/internal/sshdtest/peer"
)

const (
	userName   = "partner" // the virtual user
	daemonUser = "nobody"  // the listener's user, and the virtual user's uid and gid
	dropName   = "drop"
)

// HostKey is one of the server's host keys, as an operator would pin it.
type HostKey = peer.HostKey

// Server is a running ProFTPD with mod_sftp on 127.0.0.1. Its fields describe how to reach
// it and must not be changed.
type Server struct {
	Host string // "127.0.0.1"
	Port int
	Addr string // Host:Port

	// User is a virtual user (not in /etc/passwd), chrooted to Root: "/x" on the server is
	// Root/x on disk. It logs in with ClientSigner, or Password when that is not empty.
	User     string
	Password string
	UID, GID int // the user's files on disk belong to these

	ClientKeyPath  string     // OpenSSH-format ed25519 private key file (0600)
	ClientSigner   ssh.Signer // the same key
	KnownHostsPath string     // a known_hosts file with a line for each host key
	HostKeys       []HostKey  // RSA and Ed25519, in that order

	// Root is the user's home and chroot, owned by the user; tests create their files and
	// directories there, with Mkdir for directories the user may write to.
	Root string

	// DropDir is a drop folder as the user sees it ("/drop"), DropPath the same on disk.
	// Only uploads are allowed there: an OPEN for writing and its WRITEs. Everything else,
	// lstat, stat, opendir (a listing), open for reading, rename, remove, mkdir, setstat, is
	// refused with status 3, SSH_FX_PERMISSION_DENIED.
	DropDir  string
	DropPath string

	ConfigPath string // the proftpd.conf in use

	proftpd  string
	settings settings
	daemon   *peer.Daemon
}

// Start starts ProFTPD on a free loopback port with freshly generated host and client keys,
// waits until the client key logs in, and stops the server when tb's test ends. If proftpd
// or mod_sftp is missing, or the tests do not run as root, the test is skipped, or failed
// when CI=true.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := probe()
	if err != nil {
		peer.Unavailable(tb, "proftpdtest: proftpd", err)
	}
	s, err := newServer(tb, bin)
	if err != nil {
		tb.Fatal(err)
	}
	s.daemon = &peer.Daemon{
		Pkg:  "proftpdtest",
		Name: "proftpd",
		Log:  &peer.TailBuffer{Max: 64 << 10},
		Command: func() *exec.Cmd {
			return exec.Command(s.proftpd, "--nodaemon", "--config", s.ConfigPath)
		},
		Logins: func() ([]*ssh.ClientConfig, error) {
			cfg, err := s.ClientConfig()
			return []*ssh.ClientConfig{cfg}, err
		},
		// ProFTPD's log does not tell a taken port from other failures at start.
		Exited: func(err error, _ string) error { return fmt.Errorf("%w: %v", errBind, err) },
		Tail:   s.LogTail,
	}
	s.daemon.Start(tb, func(port int) error {
		s.Port, s.Addr = port, s.daemon.Addr
		return s.writePort()
	}, nil)
	return s
}

// errBind marks a start that failed before the server took the port, which another
// process may have taken.
var errBind = fmt.Errorf("proftpdtest: proftpd exited at start (%w?)", peer.ErrBind)

func newServer(tb testing.TB, bin string) (*Server, error) {
	u, err := user.Lookup(daemonUser)
	if err != nil {
		return nil, fmt.Errorf("proftpdtest: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("proftpdtest: %w", err)
	}
	cfgDir := tb.TempDir() // root's: keys, passwd, config, logs
	// The chroot's ancestors must be searchable by the user: ProFTPD checks the home
	// with the user's rights; a test's temp dir is not.
	home, err := os.MkdirTemp("", "proftpdtest-")
	if err != nil {
		return nil, fmt.Errorf("proftpdtest: %w", err)
	}
	tb.Cleanup(func() { os.RemoveAll(home) })
	if err := os.Chmod(home, 0o711); err != nil {
		return nil, fmt.Errorf("proftpdtest: %w", err)
	}
	root := filepath.Join(home, "root")
	s := &Server{
		Host:           "127.0.0.1",
		User:           userName,
		UID:            uid,
		GID:            gid,
		ClientKeyPath:  filepath.Join(cfgDir, "id_ed25519"),
		KnownHostsPath: filepath.Join(cfgDir, "known_hosts"),
		Root:           root,
		DropDir:        "/" + dropName,
		DropPath:       filepath.Join(root, dropName),
		ConfigPath:     filepath.Join(cfgDir, "proftpd.conf"),
		proftpd:        bin,
	}
	for _, dir := range []string{root, s.DropPath} {
		if err := s.mkdirOwned(dir); err != nil {
			return nil, err
		}
	}
	for _, hk := range []struct{ typ, name string }{{peer.RSA, "rsa"}, {peer.Ed25519, "ed25519"}} {
		// RSA in the traditional PEM form, which every ProFTPD reads.
		k, err := peer.NewKey(hk.typ, filepath.Join(cfgDir, "host_"+hk.name+"_key"), "proftpdtest host", hk.typ == peer.RSA)
		if err != nil {
			return nil, fmt.Errorf("proftpdtest: %w", err)
		}
		s.HostKeys = append(s.HostKeys, k)
	}
	client, err := peer.NewKey(peer.Ed25519, s.ClientKeyPath, "proftpdtest client", false)
	if err != nil {
		return nil, fmt.Errorf("proftpdtest: %w", err)
	}
	s.ClientSigner = client.Signer
	authKeys := filepath.Join(cfgDir, "authorized_keys.rfc4716")
	if err := os.WriteFile(authKeys, rfc4716(client.PublicKey), 0o600); err != nil {
		return nil, fmt.Errorf("proftpdtest: %w", err)
	}
	hash := "*" // no password login
	if pw, h, err := newPassword(); err == nil {
		s.Password, hash = pw, h
	}
	passwd := filepath.Join(cfgDir, "passwd")
	entry := fmt.Sprintf("%s:%s:%d:%d::%s:/bin/false\n", userName, hash, uid, gid, root)
	if err := os.WriteFile(passwd, []byte(entry), 0o600); err != nil {
		return nil, fmt.Errorf("proftpdtest: %w", err)
	}
	s.settings = settings{
		daemonUser:   daemonUser,
		daemonGroup:  g.Name,
		modulePath:   filepath.Dir(modulePath),
		passwdPath:   passwd,
		authKeysPath: authKeys,
		pidPath:      filepath.Join(cfgDir, "proftpd.pid"),
		scoreboard:   filepath.Join(cfgDir, "proftpd.scoreboard"),
		sftpLog:      filepath.Join(cfgDir, "sftp.log"),
		dropPath:     s.DropPath,
		password:     s.Password != "",
	}
	for _, k := range s.HostKeys {
		s.settings.hostKeys = append(s.settings.hostKeys, k.Path)
	}
	return s, nil
}

// writePort writes known_hosts and proftpd.conf for the port in s.Port.
func (s *Server) writePort() error {
	var kh strings.Builder
	addr := knownhosts.Normalize(s.Addr)
	for _, k := range s.HostKeys {
		kh.WriteString(knownhosts.Line([]string{addr}, k.PublicKey) + "\n")
	}
	if err := os.WriteFile(s.KnownHostsPath, []byte(kh.String()), 0o600); err != nil {
		return fmt.Errorf("proftpdtest: write known_hosts: %w", err)
	}
	s.settings.port = s.Port
	if err := os.WriteFile(s.ConfigPath, []byte(s.settings.config()), 0o600); err != nil {
		return fmt.Errorf("proftpdtest: write proftpd.conf: %w", err)
	}
	return nil
}

// Mkdir creates the directory p (a path on the server, "/in") and its parents under Root,
// owned by the user, and returns its path on disk.
func (s *Server) Mkdir(tb testing.TB, p string) string {
	tb.Helper()
	dir := s.Path(p)
	rel, err := filepath.Rel(s.Root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		tb.Fatalf("proftpdtest: %q is not under the root", p)
	}
	at := s.Root
	for _, el := range strings.Split(rel, string(filepath.Separator)) {
		if el == "." {
			continue
		}
		at = filepath.Join(at, el)
		if err := s.mkdirOwned(at); err != nil && !errors.Is(err, os.ErrExist) {
			tb.Fatal(err)
		}
	}
	return dir
}

// Path returns the path on disk of p, a path as the user sees it.
func (s *Server) Path(p string) string {
	return filepath.Join(s.Root, filepath.FromSlash(path.Clean("/"+p)))
}

func (s *Server) mkdirOwned(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("proftpdtest: %w", err)
	}
	if err := os.Chown(dir, s.UID, s.GID); err != nil {
		return fmt.Errorf("proftpdtest: %w", err)
	}
	return nil
}

// ClientConfig returns an SSH client config for User with the client key, checking the host
// key against KnownHostsPath.
func (s *Server) ClientConfig() (*ssh.ClientConfig, error) {
	hostKeys, err := knownhosts.New(s.KnownHostsPath)
	if err != nil {
		return nil, fmt.Errorf("proftpdtest: known_hosts: %w", err)
	}
	return &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeyCallback: hostKeys,
		Timeout:         peer.DialTimeout,
	}, nil
}

// Stop kills ProFTPD and every session it started, at once; clients see their connections
// cut and new dials refused. It is safe to call more than once.
func (s *Server) Stop() { s.daemon.Stop() }

// Restart starts ProFTPD again on the same port with the same keys and waits until it
// accepts logins; a running one is stopped first. It fails the test if it does not come back.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.daemon.Restart(tb)
}

// LogTail returns the last lines of mod_sftp's log and of ProFTPD's own, which it writes to
// stderr in the foreground.
func (s *Server) LogTail() string {
	data, _ := os.ReadFile(s.settings.sftpLog)
	return fmt.Sprintf("--- mod_sftp\n%s\n--- proftpd\n%s", peer.LastLines(string(data), peer.LogLines),
		peer.LastLines(s.daemon.Log.String(), peer.LogLines))
}

// rfc4716 returns pub in the RFC 4716 form that SFTPAuthorizedUserKeys reads everywhere.
func rfc4716(pub ssh.PublicKey) []byte {
	enc := base64.StdEncoding.EncodeToString(pub.Marshal())
	var b strings.Builder
	b.WriteString("---- BEGIN SSH2 PUBLIC KEY ----\n")
	for len(enc) > 64 {
		b.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	b.WriteString(enc + "\n---- END SSH2 PUBLIC KEY ----\n")
	return []byte(b.String())
}

// newPassword returns a random password and its SHA-512 crypt(3) hash, made by openssl.
func newPassword() (string, string, error) {
	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(raw)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", "passwd", "-6", "-stdin")
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("proftpdtest: openssl passwd: %w", err)
	}
	hash := strings.TrimSpace(string(out))
	if !strings.HasPrefix(hash, "$6$") {
		return "", "", errors.New("proftpdtest: openssl passwd: no SHA-512 hash")
	}
	return pw, hash, nil
}

// Where Debian's proftpd-core and proftpd-mod-crypto put the daemon and mod_sftp.
const (
	binPath    = "/usr/sbin/proftpd"
	modulePath = "/usr/lib/proftpd/mod_sftp.so"
)

// Available reports whether ProFTPD with mod_sftp can run here: nil if it can, otherwise
// why not.
func Available() error {
	_, err := probe()
	return err
}

var probe = sync.OnceValues(func() (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("proftpdtest: needs root (it chroots and switches to the user)")
	}
	bin := binPath
	if p, err := exec.LookPath("proftpd"); err == nil {
		bin = p
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("proftpdtest: proftpd not found (install proftpd-core): %w", err)
	}
	if _, err := os.Stat(modulePath); err != nil {
		return "", fmt.Errorf("proftpdtest: mod_sftp not found (install proftpd-mod-crypto): %w", err)
	}
	if _, err := user.Lookup(daemonUser); err != nil {
		return "", fmt.Errorf("proftpdtest: %w", err)
	}
	return bin, nil
})
