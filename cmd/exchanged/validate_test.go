package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// validate runs "exchanged config validate" in process and returns its
// exit code, stdout and stderr.
func validate(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), append([]string{"config", "validate"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// secretConfig is a config with one SFTP partner whose private key and
// passphrase come from env:TEST_KEY and env:TEST_PASSPHRASE (the
// passphrase line only when withPass), and a known_hosts file kh.
func secretConfig(t *testing.T, dir, kh, schedule string, withPass bool) string {
	t.Helper()
	pass := ""
	if withPass {
		pass = ", passphrase: env:TEST_PASSPHRASE"
	}
	p := filepath.Join(dir, "exchanged.yaml")
	writeFile(t, p, []byte(fmt.Sprintf(`version: 1
state_dir: %s
partners:
  acme:
    role: creditor
    sftp: {host: sftp.acme.example, user: incasso, private_key: env:TEST_KEY%s, known_hosts: %s}
  cases: {role: internal, local: {root: %s}}
jobs:
  in:
    schedule: %q
    source: {partner: acme, dir: /outbox}
    destinations: [{partner: cases, dir: /inbox}]
`, filepath.Join(dir, "state"), pass, kh, filepath.Join(dir, "cases"), schedule)))
	return p
}

// What run refuses, validate refuses first: exit 2, the field named, and
// neither key nor passphrase in anything printed.
func TestValidateRefusesWhatRunRefuses(t *testing.T) {
	const passphrase = "pp-Sup3rGeheim-2468"
	plain, enc, pub := testKeys(t, passphrase)
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	writeFile(t, kh, []byte("sftp.acme.example "+string(ssh.MarshalAuthorizedKey(pub))))
	keyFile := filepath.Join(dir, "id_ed25519")
	writeFile(t, keyFile, []byte(plain))
	secrets := []string{passphrase, strings.Split(plain, "\n")[2], strings.Split(enc, "\n")[2], "Sup3rGeheim"}

	for _, tc := range []struct {
		name       string
		key, pass  string
		withPass   bool
		kh         string
		schedule   string
		want       string
		runRefuses bool // also checked against "exchanged once"
	}{
		{name: "ok", key: plain},
		{name: "ok encrypted", key: enc, pass: passphrase, withPass: true},
		{name: "public key", key: string(ssh.MarshalAuthorizedKey(pub)),
			want: "partners.acme.sftp.private_key: env:TEST_KEY is a public key (ssh-ed25519), not a private key"},
		{name: "encrypted without passphrase", key: enc,
			want: "partners.acme.sftp.private_key: env:TEST_KEY is encrypted; set passphrase", runRefuses: true},
		{name: "wrong passphrase", key: enc, pass: "wrong-Sup3rGeheim", withPass: true,
			want: "partners.acme.sftp.passphrase: env:TEST_PASSPHRASE does not decrypt private_key env:TEST_KEY"},
		{name: "env holds a path", key: keyFile,
			want: "partners.acme.sftp.private_key: env:TEST_KEY holds what looks like a path, not a key; use file:/path/to/key instead"},
		{name: "garbage", key: "Sup3rGeheim-garbage",
			want: "partners.acme.sftp.private_key: env:TEST_KEY is not a private key"},
		{name: "known_hosts missing", key: plain, kh: filepath.Join(dir, "missing"),
			want: "partners.acme.sftp.known_hosts: " + filepath.Join(dir, "missing") + " does not exist"},
		{name: "known_hosts is the key", key: plain, kh: keyFile,
			want: "partners.acme.sftp.known_hosts: " + keyFile + ": line 1 is not a known_hosts entry"},
		{name: "never fires", key: plain, schedule: "0 0 30 2 *",
			want: "jobs.in.schedule: never fires", runRefuses: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TEST_KEY", tc.key)
			t.Setenv("TEST_PASSPHRASE", tc.pass)
			k, sched := tc.kh, tc.schedule
			if k == "" {
				k = kh
			}
			if sched == "" {
				sched = "0 6 * * 1-5"
			}
			cfg := secretConfig(t, t.TempDir(), k, sched, tc.withPass)
			code, stdout, stderr := validate(t, "--config", cfg)
			out := stdout + stderr
			for _, s := range append(secrets, tc.key) {
				if strings.Contains(out, strings.TrimSpace(s)) {
					t.Errorf("output shows a secret:\n%s", out)
				}
			}
			if tc.want == "" {
				if code != exitOK || !strings.Contains(stdout, ": ok: 2 partner(s), 1 job(s)") {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				return
			}
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want %d and %q:\n%s", code, exitUsage, tc.want, out)
			}
			if tc.runRefuses {
				var so, se bytes.Buffer
				if code := Main(context.Background(), []string{"once", "--config", cfg, "in"}, &so, &se); code != exitUsage || !strings.Contains(se.String(), tc.want) {
					t.Errorf("once: exit %d, want %d and %q:\n%s%s", code, exitUsage, tc.want, so.String(), se.String())
				}
			}
		})
	}
}

// peer is an SFTP partner for --connect: where it listens, how it is
// trusted and logged into, and the OS directory its "/" paths start at.
type peer struct {
	port      int
	user      string
	keyFile   string
	trust     string // "known_hosts: PATH" or "host_key: SHA256:..."
	root      string // prefix of the partner's paths in the config
	localRoot string // the same directory on this machine
}

// connectConfig writes a config with SFTP partner acme (p) and local
// partner cases, and two jobs: "in" pulls acme:/outbox into cases:/inbox,
// "out" delivers cases:/outbox to acme:/in (outDir when not empty) with
// rejects to cases:/rejects.
func connectConfig(t *testing.T, p peer, outDir string) (cfg, cases string) {
	t.Helper()
	dir := t.TempDir()
	cases = filepath.Join(dir, "cases")
	for _, d := range []string{"inbox", "outbox", "rejects"} {
		if err := os.MkdirAll(filepath.Join(cases, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"outbox", "in"} {
		if err := os.MkdirAll(filepath.Join(p.localRoot, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(p.localRoot, "outbox", "claims_1.csv"), []byte("a;b\n1;2\n"))
	if outDir == "" {
		outDir = p.root + "/in"
	}
	cfg = filepath.Join(dir, "exchanged.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf(`version: 1
state_dir: %s
partners:
  acme:
    role: creditor
    sftp: {host: 127.0.0.1, port: %d, user: %s, private_key: "file:%s", %s, timeout: 10s}
  cases: {role: internal, local: {root: %s}}
jobs:
  in:
    schedule: "0 6 * * *"
    source: {partner: acme, dir: %s/outbox, after: "move:%s/in"}
    destinations: [{partner: cases, dir: /inbox}]
  out:
    schedule: "0 7 * * *"
    source: {partner: cases, dir: /outbox}
    transform: {layout: payment, profile: creditor-payment}
    rejects: {partner: cases, dir: /rejects}
    destinations: [{partner: acme, dir: %s}]
`, filepath.Join(dir, "state"), p.port, p.user, p.keyFile, p.trust, cases, p.root, p.root, outDir)))
	return cfg, cases
}

// noProbes fails the test if a probe file was left in a dir under root.
func noProbes(t *testing.T, roots ...string) {
	t.Helper()
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), probePrefix) {
				t.Errorf("probe file left: %s", p)
			}
			return nil
		})
	}
}

func sshdPeer(s *sshdtest.Server, dir string) peer {
	return peer{port: s.Port, user: s.User, keyFile: s.ClientKeyPath, trust: "known_hosts: " + s.KnownHostsPath, root: dir, localRoot: dir}
}

// --connect against a real OpenSSH sshd: the host key verified through
// known_hosts, the login, each job's directories; a missing directory and
// a changed host key fail with exit 1 and say why, and nothing is moved.
func TestValidateConnectOpenSSH(t *testing.T) {
	s := sshdtest.Start(t)
	root := filepath.Join(s.Root, "acme")

	t.Run("ok", func(t *testing.T) {
		cfg, cases := connectConfig(t, sshdPeer(s, root), "")
		code, stdout, stderr := validate(t, "--config", cfg, "--connect")
		if code != exitOK {
			t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
		}
		for _, want := range []string{
			fmt.Sprintf("partner acme: ok (sftp://127.0.0.1:%d: host key verified, logged in as %s)", s.Port, s.User),
			"partner cases: ok (file://" + cases + ")",
			"job in source acme:" + root + "/outbox: ok (present, listed, 1 entries)",
			"job in source.after acme:" + root + "/in: ok (present)",
			"job in destinations[0] cases:/inbox: ok (present, probe file created, renamed and removed)",
			"job out destinations[0] acme:" + root + "/in: ok (present, probe file created, renamed and removed)",
			"job out rejects cases:/rejects: ok (present, probe file created, renamed and removed)",
			"connect: ok: 2 partner(s), 6 directory check(s)",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, stdout)
			}
		}
		noProbes(t, root, cases)
		if _, err := os.Stat(filepath.Join(root, "outbox", "claims_1.csv")); err != nil {
			t.Errorf("the source file moved: %v", err)
		}
	})

	t.Run("missing dir", func(t *testing.T) {
		cfg, _ := connectConfig(t, sshdPeer(s, root), root+"/nope")
		code, stdout, stderr := validate(t, "--config", cfg, "--connect")
		want := "job out destinations[0] acme:" + root + "/nope: FAIL: no such directory"
		if code != exitFailed || !strings.Contains(stdout, want) || !strings.Contains(stderr, "1 of 8 check(s) failed") {
			t.Fatalf("exit %d, want %d and %q:\n%s%s", code, exitFailed, want, stdout, stderr)
		}
	})

	t.Run("wrong host key", func(t *testing.T) {
		_, _, other := testKeys(t, "x")
		kh := filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, kh, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, ssh.MarshalAuthorizedKey(other))))
		p := sshdPeer(s, root)
		p.trust = "known_hosts: " + kh
		cfg, _ := connectConfig(t, p, "")
		code, stdout, stderr := validate(t, "--config", cfg, "--connect")
		for _, want := range []string{
			"partner acme: FAIL: sftp 127.0.0.1:", "host key mismatch", "presented " + s.Fingerprint,
			"job in source acme:" + root + "/outbox: skipped: partner acme failed",
			"job out destinations[0] acme:" + root + "/in: skipped: partner acme failed",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, stdout)
			}
		}
		if code != exitFailed || !strings.Contains(stderr, "4 of 8 check(s) failed") {
			t.Errorf("exit %d:\n%s", code, stderr)
		}
	})
}

// --connect against the in-process SFTP server: a pinned host key and an
// unwritable destination (a read-only server) that fails, naming why.
func TestValidateConnectSFTPD(t *testing.T) {
	root := t.TempDir()
	plain, _, pub := testKeys(t, "unused")
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	writeFile(t, keyFile, []byte(plain))
	for _, tc := range []struct {
		name     string
		readOnly bool
		code     int
		want     []string
	}{
		{"ok", false, exitOK, []string{
			"job out destinations[0] acme:/in: ok (present, probe file created, renamed and removed)",
			"job in source acme:/outbox: ok (present, listed, 1 entries)"}},
		{"read-only", true, exitFailed, []string{
			"job in source acme:/outbox: ok (present, listed, 1 entries)",
			"job out destinations[0] acme:/in: FAIL: not writable: sftp 127.0.0.1:",
			`create "/in/` + probePrefix}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := sftpd.Start(sftpd.Options{Root: root, User: "incasso", AuthorizedKeys: []ssh.PublicKey{pub}, ReadOnly: tc.readOnly})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var port int
			fmt.Sscanf(srv.Addr()[strings.LastIndex(srv.Addr(), ":")+1:], "%d", &port)
			cfg, cases := connectConfig(t, peer{port: port, user: "incasso", keyFile: keyFile,
				trust: `host_key: "` + srv.Fingerprint() + `"`, root: "", localRoot: root}, "")
			code, stdout, stderr := validate(t, "--config", cfg, "--connect")
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s%s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
			noProbes(t, root, cases)
		})
	}
}

// --connect against a write-only drop folder (the in-process server
// refusing stat, list, read, rename, link and remove): a destination with
// upload: direct passes on the probe's create alone and says that the
// empty probe file is left; the same folder in temp mode fails at stat,
// the first thing a temp-mode delivery needs.
func TestValidateConnectWriteOnlyDirect(t *testing.T) {
	root := t.TempDir()
	plain, _, pub := testKeys(t, "unused")
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	writeFile(t, keyFile, []byte(plain))
	srv, err := sftpd.Start(sftpd.Options{Root: root, User: "incasso", AuthorizedKeys: []ssh.PublicKey{pub}, Deny: sftpd.WriteOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var port int
	fmt.Sscanf(srv.Addr()[strings.LastIndex(srv.Addr(), ":")+1:], "%d", &port)
	p := peer{port: port, user: "incasso", keyFile: keyFile, trust: `host_key: "` + srv.Fingerprint() + `"`, root: "", localRoot: root}
	for _, tc := range []struct {
		mode string
		want string
	}{
		{"direct", "job out destinations[0] acme:/in: ok (probe file created; remove refused, the empty probe file /in/" + probePrefix},
		{"temp", "job out destinations[0] acme:/in: FAIL: sftp 127.0.0.1:"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cfg, _ := connectConfig(t, p, "")
			b, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			b = bytes.Replace(b, []byte("[{partner: acme, dir: /in}]"), []byte("[{partner: acme, dir: /in, upload: "+tc.mode+"}]"), 1)
			writeFile(t, cfg, b)
			code, stdout, stderr := validate(t, "--config", cfg, "--connect")
			if code != exitFailed { // the source job's listing is refused either way
				t.Errorf("exit %d, want %d:\n%s%s", code, exitFailed, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, stdout)
			}
		})
	}
}
