package sftpd_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/internal/sftpd"
)

const testUser = "partner"

type fixture struct {
	srv    *sftpd.Server
	root   string
	signer ssh.Signer
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs a server over a fresh temp dir; edit may adjust the options.
func start(t *testing.T, edit func(*sftpd.Options)) *fixture {
	t.Helper()
	f := &fixture{root: t.TempDir(), signer: newSigner(t)}
	opts := sftpd.Options{
		Root:           f.root,
		User:           testUser,
		AuthorizedKeys: []ssh.PublicKey{f.signer.PublicKey()},
		Password:       "s3cret",
	}
	if edit != nil {
		edit(&opts)
	}
	srv, err := sftpd.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	f.srv = srv
	return f
}

func (f *fixture) config(auth ssh.AuthMethod) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            testUser,
		Auth:            []ssh.AuthMethod{auth},
		HostKeyCallback: ssh.FixedHostKey(f.srv.HostKey()),
		Timeout:         10 * time.Second,
	}
}

func (f *fixture) dial(t *testing.T, auth ssh.AuthMethod) (*sftp.Client, error) {
	t.Helper()
	conn, err := ssh.Dial("tcp", f.srv.Addr(), f.config(auth))
	if err != nil {
		return nil, err
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c, nil
}

func (f *fixture) client(t *testing.T) *sftp.Client {
	t.Helper()
	c, err := f.dial(t, ssh.PublicKeys(f.signer))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) writeDisk(t *testing.T, name, content string) {
	t.Helper()
	p := filepath.Join(f.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) readDisk(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readRemote(t *testing.T, c *sftp.Client, name string) string {
	t.Helper()
	r, err := c.Open(name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func writeRemote(t *testing.T, c *sftp.Client, name string, flags int, content string) error {
	t.Helper()
	w, err := c.OpenFile(name, flags)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(content)); err != nil {
		w.Close()
		t.Fatalf("write %s: %v", name, err)
	}
	return w.Close()
}

func wantStatus(t *testing.T, err error, code uint32) {
	t.Helper()
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("error = %v, want SFTP status %d", err, code)
	}
}

func TestListStatOpen(t *testing.T) {
	f := start(t, nil)
	f.writeDisk(t, "out/b.csv", "bbb")
	f.writeDisk(t, "out/a.csv", "a")
	if err := os.Mkdir(filepath.Join(f.root, "out", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	c := f.client(t)

	infos, err := c.ReadDir("/out")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fi := range infos {
		got = append(got, fi.Name())
	}
	if want := []string{"a.csv", "b.csv", "sub"}; !slices.Equal(got, want) {
		t.Fatalf("ReadDir = %v, want %v", got, want)
	}
	if !infos[2].IsDir() || infos[1].Size() != 3 {
		t.Fatalf("ReadDir infos: sub dir=%v, b.csv size=%d", infos[2].IsDir(), infos[1].Size())
	}

	fi, err := c.Stat("/out/b.csv")
	if err != nil || fi.Size() != 3 || !fi.Mode().IsRegular() {
		t.Fatalf("Stat = %v, %v", fi, err)
	}
	if got := readRemote(t, c, "/out/b.csv"); got != "bbb" {
		t.Fatalf("content = %q", got)
	}
	_, err = c.Stat("/out/missing")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat missing: %v, want not exist", err)
	}
	if wd, err := c.Getwd(); err != nil || wd != "/" {
		t.Fatalf("Getwd = %q, %v", wd, err)
	}
}

func TestCreateExclusive(t *testing.T) {
	f := start(t, nil)
	c := f.client(t)
	excl := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if err := writeRemote(t, c, "/new.part", excl, "first"); err != nil {
		t.Fatal(err)
	}
	if got := f.readDisk(t, "new.part"); got != "first" {
		t.Fatalf("disk = %q", got)
	}
	_, err := c.OpenFile("/new.part", excl)
	wantStatus(t, err, 4) // SSH_FX_FAILURE: EEXIST has no code of its own
	if got := f.readDisk(t, "new.part"); got != "first" {
		t.Fatalf("after refused O_EXCL disk = %q", got)
	}
	// Truncate and append.
	if err := writeRemote(t, c, "/new.part", os.O_WRONLY|os.O_TRUNC, "12"); err != nil {
		t.Fatal(err)
	}
	if err := writeRemote(t, c, "/new.part", os.O_WRONLY|os.O_APPEND, "34"); err != nil {
		t.Fatal(err)
	}
	if got := f.readDisk(t, "new.part"); got != "1234" {
		t.Fatalf("after trunc+append disk = %q", got)
	}
	fi, err := os.Stat(filepath.Join(f.root, "new.part"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v", fi.Mode(), err)
	}
}

func TestRename(t *testing.T) {
	f := start(t, nil)
	c := f.client(t)
	if _, ok := c.HasExtension("posix-rename@openssh.com"); !ok {
		t.Fatal("posix-rename@openssh.com not offered")
	}
	f.writeDisk(t, "a.part", "new")
	f.writeDisk(t, "a.csv", "old")

	err := c.Rename("/a.part", "/a.csv")
	wantStatus(t, err, 4)
	if f.readDisk(t, "a.csv") != "old" || f.readDisk(t, "a.part") != "new" {
		t.Fatal("plain rename changed files although the target existed")
	}

	if err := c.PosixRename("/a.part", "/a.csv"); err != nil {
		t.Fatal(err)
	}
	if got := f.readDisk(t, "a.csv"); got != "new" {
		t.Fatalf("after posix-rename a.csv = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(f.root, "a.part")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a.part still there: %v", err)
	}

	if err := c.Rename("/a.csv", "/b.csv"); err != nil {
		t.Fatal(err)
	}
	if got := f.readDisk(t, "b.csv"); got != "new" {
		t.Fatalf("b.csv = %q", got)
	}
	// Directories: no links, still no clobbering.
	if err := c.Mkdir("/d1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir("/d2"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.Rename("/d1", "/d2"), 4)
	if err := c.Rename("/d1", "/d3"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(f.root, "d3")); err != nil || !fi.IsDir() {
		t.Fatalf("d3: %v", err)
	}
}

func TestNoPosixRename(t *testing.T) {
	f := start(t, func(o *sftpd.Options) { o.NoPosixRename = true })
	c := f.client(t)
	if _, ok := c.HasExtension("posix-rename@openssh.com"); ok {
		t.Fatal("posix-rename@openssh.com offered although NoPosixRename")
	}
	if _, ok := c.HasExtension("hardlink@openssh.com"); !ok {
		t.Fatal("hardlink@openssh.com no longer offered")
	}
	f.writeDisk(t, "a.part", "new")
	f.writeDisk(t, "a.csv", "old")
	wantStatus(t, c.PosixRename("/a.part", "/a.csv"), 8) // SSH_FX_OP_UNSUPPORTED
	if f.readDisk(t, "a.csv") != "old" {
		t.Fatal("refused posix-rename changed the target")
	}

	// Another server in the same process still offers it.
	g := start(t, nil)
	if _, ok := g.client(t).HasExtension("posix-rename@openssh.com"); !ok {
		t.Fatal("posix-rename@openssh.com hidden on a server that offers it")
	}
}

func TestRemoveMkdir(t *testing.T) {
	f := start(t, nil)
	c := f.client(t)
	if err := c.Mkdir("/in"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(f.root, "in")); err != nil || !fi.IsDir() {
		t.Fatalf("mkdir on disk: %v", err)
	}
	if err := c.Mkdir("/in"); err == nil {
		t.Fatal("mkdir of an existing dir succeeded")
	}
	f.writeDisk(t, "in/x.csv", "x")
	if err := c.Remove("/in/x.csv"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "in", "x.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed file still on disk: %v", err)
	}
	if err := c.Remove("/in/x.csv"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("remove missing: %v", err)
	}
	if err := c.RemoveDirectory("/in"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "in")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed dir still on disk: %v", err)
	}
}

func TestSymlinks(t *testing.T) {
	f := start(t, nil)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.writeDisk(t, "real.csv", "real")
	if err := os.Symlink("real.csv", filepath.Join(f.root, "inside.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(f.root, "escape.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(f.root, "escapedir")); err != nil {
		t.Fatal(err)
	}
	c := f.client(t)

	infos, err := c.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]fs.FileMode{}
	for _, fi := range infos {
		modes[fi.Name()] = fi.Mode()
	}
	for _, name := range []string{"inside.csv", "escape.csv", "escapedir"} {
		if modes[name]&fs.ModeSymlink == 0 {
			t.Errorf("List: %s mode %v, want a symlink", name, modes[name])
		}
		fi, err := c.Lstat("/" + name)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("Lstat %s = %v, %v; want a symlink", name, fi, err)
		}
		if _, err := c.Open("/" + name); err == nil {
			t.Errorf("open %s followed the symlink", name)
		}
	}
	if _, err := c.Open("/escapedir/secret"); err == nil {
		t.Error("open through a symlinked dir outside root succeeded")
	}
	if _, err := c.Stat("/escape.csv"); err == nil {
		t.Error("Stat followed a symlink outside root")
	}
	if fi, err := c.Stat("/inside.csv"); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("Stat of a symlink inside root = %v, %v", fi, err)
	}
	if target, err := c.ReadLink("/inside.csv"); err != nil || target != "real.csv" {
		t.Errorf("ReadLink = %q, %v", target, err)
	}
	if err := writeRemote(t, c, "/escape.csv", os.O_WRONLY|os.O_TRUNC, "pwned"); err == nil {
		t.Error("write through a symlink succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
		t.Errorf("outside file changed: %q", b)
	}

	if err := c.Symlink("real.csv", "/made.csv"); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(f.root, "made.csv")); err != nil || target != "real.csv" {
		t.Fatalf("symlink on disk = %q, %v", target, err)
	}
}

// TestServerVersionNoReadlink: ServerVersion is the identification string a client sees
// (the default names the server); NoReadlink refuses READLINK as permission denied, and
// READLINK of a regular file is a failure (status 4) either way on a default server.
func TestServerVersionNoReadlink(t *testing.T) {
	for _, tc := range []struct {
		opts    func(*sftpd.Options)
		version string
	}{
		{nil, "SSH-2.0-exchanged_sftpd"},
		{func(o *sftpd.Options) { o.ServerVersion, o.NoReadlink = "SSH-2.0-mod_sftp", true }, "SSH-2.0-mod_sftp"},
	} {
		f := start(t, tc.opts)
		f.writeDisk(t, "a.csv", "x")
		if err := os.Symlink("a.csv", filepath.Join(f.root, "l.csv")); err != nil {
			t.Fatal(err)
		}
		conn, err := ssh.Dial("tcp", f.srv.Addr(), f.config(ssh.PublicKeys(f.signer)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := string(conn.ServerVersion()); got != tc.version {
			t.Errorf("server version %q, want %q", got, tc.version)
		}
		c := f.client(t)
		target, err := c.ReadLink("/l.csv")
		if tc.opts == nil {
			if err != nil || target != "a.csv" {
				t.Errorf("ReadLink(symlink) = %q, %v", target, err)
			}
			_, err := c.ReadLink("/a.csv")
			wantStatus(t, err, 4) // SSH_FX_FAILURE: readlink(2)'s EINVAL
		} else if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("ReadLink with NoReadlink = %q, %v; want permission denied", target, err)
		}
	}
}

func TestRootConfinement(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "outside.txt"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := start(t, func(o *sftpd.Options) { o.Root = root })
	f.root = root
	f.writeDisk(t, "inside.txt", "inside")
	c := f.client(t)

	for _, p := range []string{"../outside.txt", "/../outside.txt", "/a/../../outside.txt", "../../../../outside.txt"} {
		if _, err := c.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat %q: %v, want not exist", p, err)
		}
	}
	if got := readRemote(t, c, "/../inside.txt"); got != "inside" {
		t.Errorf("/../inside.txt = %q", got)
	}
	if err := writeRemote(t, c, "../../escaped.txt", os.O_WRONLY|os.O_CREATE, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "escaped.txt")); err != nil {
		t.Errorf("../../escaped.txt not written inside root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "escaped.txt")); err == nil {
		t.Error("write escaped root")
	}
	infos, err := c.ReadDir("/..")
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range infos {
		if fi.Name() == "root" || fi.Name() == "outside.txt" {
			t.Errorf("ReadDir /.. lists %s from outside root", fi.Name())
		}
	}
}

func TestReadOnly(t *testing.T) {
	f := start(t, func(o *sftpd.Options) { o.ReadOnly = true })
	f.writeDisk(t, "a.csv", "a")
	c := f.client(t)
	if got := readRemote(t, c, "/a.csv"); got != "a" {
		t.Fatalf("read = %q", got)
	}
	for name, err := range map[string]error{
		"create":       writeRemote(t, c, "/b.csv", os.O_WRONLY|os.O_CREATE, "b"),
		"remove":       c.Remove("/a.csv"),
		"mkdir":        c.Mkdir("/d"),
		"posix-rename": c.PosixRename("/a.csv", "/c.csv"),
		"chmod":        c.Chmod("/a.csv", 0o644),
	} {
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: %v, want permission denied", name, err)
		}
	}
	if f.readDisk(t, "a.csv") != "a" {
		t.Fatal("read-only server changed a file")
	}
}

func TestSetstat(t *testing.T) {
	f := start(t, nil)
	f.writeDisk(t, "a.csv", "abcdef")
	c := f.client(t)
	mtime := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := c.Truncate("/a.csv", 3); err != nil {
		t.Fatal(err)
	}
	if err := c.Chmod("/a.csv", 0o640); err != nil {
		t.Fatal(err)
	}
	if err := c.Chtimes("/a.csv", mtime, mtime); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(f.root, "a.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 3 || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mtime) {
		t.Fatalf("after setstat: size %d mode %v mtime %v", fi.Size(), fi.Mode(), fi.ModTime())
	}
}

func TestAuth(t *testing.T) {
	f := start(t, nil)
	if _, err := f.dial(t, ssh.Password("s3cret")); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if _, err := f.dial(t, ssh.Password("wrong")); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("wrong password: %v, want refused", err)
	}
	if _, err := f.dial(t, ssh.PublicKeys(newSigner(t))); err == nil {
		t.Fatal("unknown key accepted")
	}

	// A client pinning another host key refuses the server.
	cfg := f.config(ssh.PublicKeys(f.signer))
	cfg.HostKeyCallback = ssh.FixedHostKey(newSigner(t).PublicKey())
	if conn, err := ssh.Dial("tcp", f.srv.Addr(), cfg); err == nil {
		conn.Close()
		t.Fatal("client accepted a server with another host key")
	}

	g := start(t, func(o *sftpd.Options) { o.Password = "" })
	if _, err := g.dial(t, ssh.Password("")); err == nil {
		t.Fatal("empty password accepted with password auth disabled")
	}
	if !strings.HasPrefix(f.srv.Fingerprint(), "SHA256:") || f.srv.Fingerprint() != ssh.FingerprintSHA256(f.srv.HostKey()) {
		t.Fatalf("Fingerprint = %q", f.srv.Fingerprint())
	}
}

func TestGivenHostKey(t *testing.T) {
	key := newSigner(t)
	f := start(t, func(o *sftpd.Options) { o.HostKey = key })
	if !bytes.Equal(f.srv.HostKey().Marshal(), key.PublicKey().Marshal()) {
		t.Fatal("HostKey is not the given key")
	}
	f.client(t)
}

func TestDropConnections(t *testing.T) {
	f := start(t, nil)
	f.writeDisk(t, "a.csv", "a")
	c := f.client(t)
	if _, err := c.Stat("/a.csv"); err != nil {
		t.Fatal(err)
	}
	f.srv.DropConnections()
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(30 * time.Second):
		t.Fatal("client connection survived DropConnections")
	}
	if _, err := c.Stat("/a.csv"); err == nil {
		t.Fatal("Stat on a dropped connection succeeded")
	}
	c2 := f.client(t)
	if got := readRemote(t, c2, "/a.csv"); got != "a" {
		t.Fatalf("after reconnect read %q", got)
	}
}

func TestStartErrors(t *testing.T) {
	key := newSigner(t).PublicKey()
	for name, opts := range map[string]sftpd.Options{
		"no root":     {User: "u", AuthorizedKeys: []ssh.PublicKey{key}},
		"no user":     {Root: t.TempDir(), AuthorizedKeys: []ssh.PublicKey{key}},
		"no auth":     {Root: t.TempDir(), User: "u"},
		"not a dir":   {Root: filepath.Join(t.TempDir(), "missing"), User: "u", Password: "p"},
		"no loopback": {Root: t.TempDir(), User: "u", Password: "p", Addr: "0.0.0.0:0"},
	} {
		if srv, err := sftpd.Start(opts); err == nil {
			srv.Close()
			t.Errorf("%s: Start succeeded", name)
		} else if !strings.HasPrefix(err.Error(), "sftpd: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

func TestCloseWithOpenClient(t *testing.T) {
	f := start(t, nil)
	c := f.client(t)
	w, err := c.Create("/open.part")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Stat("/"); err == nil {
		t.Fatal("client still served after Close")
	}
}
