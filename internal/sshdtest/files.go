package sshdtest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/exchanged/exchanged/internal/sshdtest/peer"
)

// newKey generates an ed25519 key and writes its private half, OpenSSH format, to path (0600).
func newKey(path, comment string) (ssh.Signer, error) {
	k, err := peer.NewKey(peer.Ed25519, path, comment, false)
	if err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	return k.Signer, nil
}

// setup is what one sshd needs on disk, all in dir.
type setup struct {
	dir            string
	hostKeys       []peer.HostKey // RSA, ECDSA, Ed25519: sshd offers each
	clientKeyPath  string
	authorizedPath string
	knownHostsPath string
	configPath     string
	pidPath        string
	host           ssh.Signer // the Ed25519 host key, in known_hosts
	client         ssh.Signer
	usePAM         bool
	drop           *drop // nil: no drop user (not root)
}

// drop is the chrooted write-only user: sshd requires the chroot and its every ancestor to
// be root's and writable by no one else, so it lives in base, outside the test's temp dir.
type drop struct {
	user           string
	base           string // root-owned, 0755: authorized_keys and the chroot
	chroot         string // base/root, root-owned 0755
	dir            string // chroot/drop, root-owned 0733: write and search, no listing
	authorizedPath string // base/authorized_keys, readable by the drop user
}

func newSetup(dir string) (*setup, error) {
	st := &setup{
		dir:            dir,
		clientKeyPath:  filepath.Join(dir, "id_ed25519"),
		authorizedPath: filepath.Join(dir, "authorized_keys"),
		knownHostsPath: filepath.Join(dir, "known_hosts"),
		configPath:     filepath.Join(dir, "sshd_config"),
		pidPath:        filepath.Join(dir, "sshd.pid"),
	}
	for _, hk := range []struct{ typ, name string }{
		{peer.RSA, "rsa"}, {peer.ECDSA, "ecdsa"}, {peer.Ed25519, "ed25519"},
	} {
		k, err := peer.NewKey(hk.typ, filepath.Join(dir, "ssh_host_"+hk.name+"_key"), "sshdtest host", false)
		if err != nil {
			return nil, fmt.Errorf("sshdtest: %w", err)
		}
		st.hostKeys = append(st.hostKeys, k)
	}
	st.host = st.hostKeys[len(st.hostKeys)-1].Signer
	var err error
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

// dropUser is the account the chrooted drop user is: every Debian system has it.
const dropUser = "nobody"

// newDrop prepares the chroot and drop folder of dropUser, who logs in with the client key.
func newDrop(tb testing.TB) (*drop, error) {
	if _, err := user.Lookup(dropUser); err != nil {
		return nil, fmt.Errorf("sshdtest: drop user: %w", err)
	}
	base, err := peer.SafeDir(tb, "sshdtest-drop-")
	if err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	d := &drop{user: dropUser, base: base, chroot: filepath.Join(base, "root"),
		authorizedPath: filepath.Join(base, "authorized_keys")}
	d.dir = filepath.Join(d.chroot, "drop")
	for _, dir := range []struct {
		path string
		mode os.FileMode
	}{{d.chroot, 0o755}, {d.dir, 0o733}} {
		if err := os.Mkdir(dir.path, dir.mode); err != nil {
			return nil, fmt.Errorf("sshdtest: %w", err)
		}
		if err := os.Chmod(dir.path, dir.mode); err != nil { // past the umask
			return nil, fmt.Errorf("sshdtest: %w", err)
		}
	}
	return d, nil
}

// writePort writes the known_hosts file and sshd_config for a server on 127.0.0.1:port.
func (st *setup) writePort(port int, user string, version [2]int) error {
	addr := knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", port))
	line := knownhosts.Line([]string{addr}, st.host.PublicKey()) + "\n"
	if err := os.WriteFile(st.knownHostsPath, []byte(line), 0o600); err != nil {
		return fmt.Errorf("sshdtest: write known_hosts: %w", err)
	}
	if d := st.drop; d != nil {
		// Read with the drop user's rights.
		if err := os.WriteFile(d.authorizedPath, ssh.MarshalAuthorizedKey(st.client.PublicKey()), 0o644); err != nil {
			return fmt.Errorf("sshdtest: write authorized_keys: %w", err)
		}
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
	for _, k := range st.hostKeys {
		line("HostKey", k.Path)
	}
	line("PidFile", st.pidPath)
	line("AuthorizedKeysFile", st.authorizedPath)
	if st.drop != nil {
		line("AllowUsers", user+" "+st.drop.user)
	} else {
		line("AllowUsers", user)
	}
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
	if d := st.drop; d != nil {
		// Match blocks run to the end of the file.
		b.WriteString("Match User " + d.user + "\n")
		line("\tAuthorizedKeysFile", d.authorizedPath)
		line("\tChrootDirectory", d.chroot)
		line("\tForceCommand", "internal-sftp")
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
