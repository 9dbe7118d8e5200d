package sshdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/exchanged/exchanged/internal/sshdtest/peer"
)

// Server is a running OpenSSH sshd on 127.0.0.1. Its fields describe how to reach it and
// must not be changed.
type Server struct {
	Host string // "127.0.0.1"
	Port int
	Addr string // Host:Port
	User string // the current OS user, the only one allowed in

	ClientKeyPath  string     // OpenSSH-format ed25519 private key file (0600), authorized on the server
	ClientSigner   ssh.Signer // the same key
	KnownHostsPath string     // a known_hosts file holding "[127.0.0.1]:port ssh-ed25519 ..."
	Fingerprint    string     // "SHA256:..." of the host key
	HostKey        ssh.PublicKey

	// Root is an absolute temp dir for the test's files. Paths on this sshd are absolute OS
	// paths: there is no chroot.
	Root string

	ConfigPath string // the sshd_config in use

	// HostKeys are all of the server's host keys: RSA, ECDSA and Ed25519, in that order.
	// HostKey and Fingerprint are the Ed25519 one, the only one KnownHostsPath holds.
	HostKeys []HostKey

	// DropUser is a second account, chrooted (internal-sftp only) to DropRoot, that logs in
	// with ClientSigner too; it is "" unless the tests run as root, who alone can set it up.
	// DropDir is its drop folder as it sees it ("/drop"), DropPath the same on disk: root's,
	// mode 0733, so that it may create files there and open, stat, rename or remove them by
	// name, but not list the folder. Files it creates belong to DropUser.
	DropUser string
	DropRoot string
	DropDir  string
	DropPath string

	sshd    string
	version [2]int
	setup   *setup
	daemon  *peer.Daemon
}

// HostKey is one of a server's host keys, as an operator would pin it.
type HostKey = peer.HostKey

var (
	// errBind marks a start that failed because the port was taken.
	errBind = fmt.Errorf("sshdtest: %w", peer.ErrBind)
	// errLocked marks a login refused because, without PAM, sshd deems the account
	// locked: a non-root sshd cannot read /etc/shadow, and a root with "!" in it is locked.
	errLocked = errors.New("sshdtest: account locked without PAM")
)

// Start starts sshd on a free loopback port with freshly generated host and client keys,
// waits until the client key logs in, and stops the server when tb's test ends. If sshd is
// missing or cannot start, the test is skipped, or failed when CI=true.
func Start(tb testing.TB) *Server {
	tb.Helper()
	sshd, version, err := probe()
	if err != nil {
		unavailable(tb, err)
	}
	u, err := user.Current()
	if err != nil {
		unavailable(tb, fmt.Errorf("sshdtest: current user: %w", err))
	}
	root, err := filepath.EvalSymlinks(tb.TempDir())
	if err != nil {
		tb.Fatalf("sshdtest: %v", err)
	}
	st, err := newSetup(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if st.drop, err = newDrop(tb); err != nil {
			tb.Fatal(err)
		}
	}
	s := &Server{
		Host:           "127.0.0.1",
		User:           u.Username,
		ClientKeyPath:  st.clientKeyPath,
		ClientSigner:   st.client,
		KnownHostsPath: st.knownHostsPath,
		HostKey:        st.host.PublicKey(),
		Fingerprint:    ssh.FingerprintSHA256(st.host.PublicKey()),
		Root:           root,
		ConfigPath:     st.configPath,
		HostKeys:       st.hostKeys,
		sshd:           sshd,
		version:        version,
		setup:          st,
	}
	if d := st.drop; d != nil {
		s.DropUser, s.DropRoot, s.DropDir, s.DropPath = d.user, d.chroot, "/drop", d.dir
	}
	s.daemon = &peer.Daemon{
		Pkg:  "sshdtest",
		Name: "sshd",
		Log:  &peer.TailBuffer{Max: 64 << 10},
		Command: func() *exec.Cmd {
			return exec.Command(s.sshd, "-D", "-e", "-f", s.setup.configPath)
		},
		Mark: func(n int) string {
			return fmt.Sprintf("--- sshdtest: start %d (UsePAM %v) ---\n", n, s.setup.usePAM)
		},
		Logins:  s.logins,
		Exited:  exited,
		Refused: refused,
	}
	// Registered after the temp dirs, so that sshd is stopped before they are removed.
	s.daemon.Start(tb, func(port int) error {
		s.Port, s.Addr = port, s.daemon.Addr
		return st.writePort(port, s.User, version)
	}, func(err error) bool {
		if errors.Is(err, errLocked) && !st.usePAM {
			st.usePAM = true // PAM's account check can read shadow through unix_chkpwd
			return true
		}
		return false
	})
	return s
}

// Restart starts sshd again on the same port with the same keys and waits until it accepts
// logins; a running sshd is stopped first. It fails the test if sshd does not come back.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.daemon.Restart(tb)
}

// Stop kills sshd and every session it started, at once, as a crash or a pulled cable
// would; clients see their connections cut and new dials refused. It is safe to call more
// than once.
func (s *Server) Stop() { s.daemon.Stop() }

// ClientConfig returns an SSH client config for s.User with the client key, checking the
// host key against KnownHostsPath.
func (s *Server) ClientConfig() (*ssh.ClientConfig, error) {
	hostKeys, err := knownhosts.New(s.KnownHostsPath)
	if err != nil {
		return nil, fmt.Errorf("sshdtest: known_hosts: %w", err)
	}
	return &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           peer.DialTimeout,
	}, nil
}

// DropClientConfig is ClientConfig for DropUser. It fails when there is no DropUser.
func (s *Server) DropClientConfig() (*ssh.ClientConfig, error) {
	if s.DropUser == "" {
		return nil, errors.New("sshdtest: no drop user (tests not run as root)")
	}
	cfg, err := s.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.User = s.DropUser
	return cfg, nil
}

// LogTail returns the last lines sshd wrote to its stderr (LogLevel VERBOSE), across
// restarts.
func (s *Server) LogTail() string { return s.daemon.LogTail() }

// logins returns the configs that must log in before sshd counts as ready: User's, and
// DropUser's when there is one.
func (s *Server) logins() ([]*ssh.ClientConfig, error) {
	cfg, err := s.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfgs := []*ssh.ClientConfig{cfg}
	if s.DropUser != "" {
		dcfg, err := s.DropClientConfig()
		if err != nil {
			return nil, err
		}
		cfgs = append(cfgs, dcfg)
	}
	return cfgs, nil
}

var bindFailure = regexp.MustCompile(`Bind to port \d+ .* failed|Cannot bind any address`)

// exited says what sshd's exit before a login means: a taken port when its log says so.
func exited(err error, log string) error {
	if bindFailure.MatchString(log) {
		return fmt.Errorf("%w: sshd exited: %v", errBind, err)
	}
	return fmt.Errorf("sshdtest: sshd exited before accepting a login: %v", err)
}

// refused marks a login refused because the account is locked (errLocked).
func refused(err error, log string) error {
	if strings.Contains(log, "not allowed because account is locked") {
		return fmt.Errorf("%w: %v", errLocked, err)
	}
	return nil
}

// unavailable skips the test, or fails it when CI=true: CI must have a real peer.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	peer.Unavailable(tb, "sshdtest: sshd", err)
}

// Available reports whether sshd can run here: nil if it can, otherwise why not. It checks
// a generated configuration with `sshd -t`. When running as root it creates sshd's missing
// privilege separation directory (/run/sshd on Debian).
func Available() error {
	_, _, err := probe()
	return err
}

var probeOnce = sync.OnceValues(func() (probeResult, error) {
	path, version, err := probeSSHD()
	return probeResult{path, version}, err
})

type probeResult struct {
	path    string
	version [2]int
}

func probe() (string, [2]int, error) {
	r, err := probeOnce()
	return r.path, r.version, err
}

func probeSSHD() (string, [2]int, error) {
	path, err := findSSHD()
	if err != nil {
		return "", [2]int{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, "-V").CombinedOutput()
	version := parseVersion(string(out))

	u, err := user.Current()
	if err != nil {
		return "", version, fmt.Errorf("sshdtest: current user: %w", err)
	}
	dir, err := os.MkdirTemp("", "sshdtest-probe-")
	if err != nil {
		return "", version, fmt.Errorf("sshdtest: %w", err)
	}
	defer os.RemoveAll(dir)
	st, err := newSetup(dir)
	if err != nil {
		return "", version, err
	}
	if err := st.writePort(22, u.Username, version); err != nil {
		return "", version, err
	}
	for attempt := 0; attempt < 2; attempt++ {
		out, err := exec.CommandContext(ctx, path, "-t", "-f", st.configPath).CombinedOutput()
		if err == nil {
			return path, version, nil
		}
		msg := strings.TrimSpace(string(out))
		if dir, ok := missingPrivsepDir(msg); ok && attempt == 0 && os.Geteuid() == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", version, fmt.Errorf("sshdtest: create privilege separation dir: %w", err)
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				return "", version, fmt.Errorf("sshdtest: privilege separation dir: %w", err)
			}
			continue
		}
		return "", version, fmt.Errorf("sshdtest: %s -t: %v: %s", path, err, msg)
	}
	return "", version, errors.New("sshdtest: sshd -t kept failing")
}

var privsepRE = regexp.MustCompile(`Missing privilege separation directory: (\S+)`)

func missingPrivsepDir(out string) (string, bool) {
	m := privsepRE.FindStringSubmatch(out)
	if m == nil || !filepath.IsAbs(m[1]) {
		return "", false
	}
	return m[1], true
}

// findSSHD returns sshd's absolute path: sshd refuses to run from a relative one.
func findSSHD() (string, error) {
	if p, err := exec.LookPath("sshd"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("sshdtest: sshd not found (install openssh-server)")
}
