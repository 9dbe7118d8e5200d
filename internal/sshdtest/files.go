package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// newKey generates an ed25519 key and writes its private half, OpenSSH format, to path (0600).
func newKey(path, comment string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sshdtest: generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("sshdtest: marshal key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("sshdtest: write key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("sshdtest: signer: %w", err)
	}
	return signer, nil
}

// setup is what one sshd needs on disk, all in dir.
type setup struct {
	dir            string
	hostKeyPath    string
	clientKeyPath  string
	authorizedPath string
	knownHostsPath string
	configPath     string
	pidPath        string
	host           ssh.Signer
	client         ssh.Signer
	usePAM         bool
}

func newSetup(dir string) (*setup, error) {
	st := &setup{
		dir:            dir,
		hostKeyPath:    filepath.Join(dir, "ssh_host_ed25519_key"),
		clientKeyPath:  filepath.Join(dir, "id_ed25519"),
		authorizedPath: filepath.Join(dir, "authorized_keys"),
		knownHostsPath: filepath.Join(dir, "known_hosts"),
		configPath:     filepath.Join(dir, "sshd_config"),
		pidPath:        filepath.Join(dir, "sshd.pid"),
	}
	var err error
	if st.host, err = newKey(st.hostKeyPath, "sshdtest host"); err != nil {
		return nil, err
	}
	if st.client, err = newKey(st.clientKeyPath, "sshdtest client"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(st.clientKeyPath+".pub", ssh.MarshalAuthorizedKey(st.client.PublicKey()), 0o644); err != nil {
		return nil, fmt.Errorf("sshdtest: write key: %w", err)
	}
	if err := os.WriteFile(st.authorizedPath, ssh.MarshalAuthorizedKey(st.client.PublicKey()), 0o600); err != nil {
		return nil, fmt.Errorf("sshdtest: write authorized_keys: %w", err)
	}
	return st, nil
}

// writePort writes the known_hosts file and sshd_config for a server on 127.0.0.1:port.
func (st *setup) writePort(port int, user string, version [2]int) error {
	addr := knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", port))
	line := knownhosts.Line([]string{addr}, st.host.PublicKey()) + "\n"
	if err := os.WriteFile(st.knownHostsPath, []byte(line), 0o600); err != nil {
		return fmt.Errorf("sshdtest: write known_hosts: %w", err)
	}
	if err := os.WriteFile(st.configPath, []byte(st.config(port, user, version)), 0o600); err != nil {
		return fmt.Errorf("sshdtest: write sshd_config: %w", err)
	}
	return nil
}

func (st *setup) config(port int, user string, version [2]int) string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%s %s\n", k, v) }
	line("ListenAddress", "127.0.0.1")
	line("Port", strconv.Itoa(port))
	line("HostKey", st.hostKeyPath)
	line("PidFile", st.pidPath)
	line("AuthorizedKeysFile", st.authorizedPath)
	line("AllowUsers", user)
	line("PubkeyAuthentication", "yes")
	line("PasswordAuthentication", "yes")
	line("PermitEmptyPasswords", "no")
	line("KbdInteractiveAuthentication", "no")
	line("HostbasedAuthentication", "no")
	// PAM only when needed (see errLocked): it drags in the host's whole PAM stack.
	line("UsePAM", map[bool]string{false: "no", true: "yes"}[st.usePAM])
	// The key files live in a test's temp dir, whose parents sshd would otherwise inspect.
	line("StrictModes", "no")
	if os.Geteuid() == 0 {
		line("PermitRootLogin", "prohibit-password")
	}
	line("Subsystem", "sftp internal-sftp")
	line("LogLevel", "VERBOSE")
	line("PrintMotd", "no")
	line("PrintLastLog", "no")
	line("UseDNS", "no")
	line("X11Forwarding", "no")
	line("AllowTcpForwarding", "no")
	line("AllowAgentForwarding", "no")
	line("PermitTunnel", "no")
	line("PermitTTY", "no")
	// Benchmarks open many connections at once.
	line("MaxStartups", "64:30:128")
	line("MaxSessions", "64")
	if version[0] > 9 || version[0] == 9 && version[1] >= 8 {
		// From 9.8 on, sshd refuses a source after a few failed logins; tests fail logins
		// on purpose, all from 127.0.0.1.
		line("PerSourcePenalties", "no")
	}
	return b.String()
}

var versionRE = regexp.MustCompile(`OpenSSH_(\d+)\.(\d+)`)

// parseVersion returns the major and minor OpenSSH version in out, or 0, 0.
func parseVersion(out string) [2]int {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return [2]int{}
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return [2]int{major, minor}
}
