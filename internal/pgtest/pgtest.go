// Package pgtest runs a real PostgreSQL (Debian's server binaries,
// /usr/lib/postgresql/*/bin, or initdb and postgres on PATH) for tests:
// initdb into a fresh directory, postgres on a free 127.0.0.1 port with
// its unix socket in that directory, SCRAM password authentication for a
// generated superuser, and a fresh database per test. Without the binaries
// the test is skipped, except under CI=true, where it fails.
//
// initdb and postgres refuse to run as root: as root, pgtest runs them as
// nobody (uid and gid 65534, set by the fork like setpriv would, so that
// postgres still dies with the test binary), in a directory under /tmp
// that nobody owns (a test's t.TempDir() is not reachable by nobody).
//
// A package whose tests share one server calls Main from its TestMain and
// DSN in each test; Start gives a test a server of its own.
package pgtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/exchanged/exchanged/internal/sshdtest/peer"
)

// Bounds of a server's start and stop.
const (
	initTimeout  = time.Minute      // initdb
	readyTimeout = 30 * time.Second // from exec to a successful login
	readyPoll    = 50 * time.Millisecond
	maxReadyPoll = int(readyTimeout / readyPoll)
	stopTimeout  = 15 * time.Second // fast shutdown, then SIGKILL
	nobody       = 65534            // uid and gid postgres runs as under root
)

// Server is one running PostgreSQL.
type Server struct {
	Addr     string // "127.0.0.1:port"
	Port     int
	User     string // a superuser
	Password string
	Dir      string // data directory's parent; the unix socket lives here
	Log      *peer.TailBuffer

	proc    *process
	dbs     atomic.Int64 // databases made by NewDB
	stopped sync.Once
}

// Bin returns the directory holding initdb and postgres: the newest of
// Debian's /usr/lib/postgresql/*/bin (or of the glob in PGTEST_BIN_GLOB,
// which pgtest's own test sets to show what a machine without them does),
// else the one of initdb on PATH.
func Bin() (string, error) {
	glob := cmp.Or(os.Getenv("PGTEST_BIN_GLOB"), "/usr/lib/postgresql/*/bin")
	dirs, _ := filepath.Glob(glob)
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin or on PATH: %w", err)
	}
	d := filepath.Dir(p)
	if !executable(filepath.Join(d, "postgres")) {
		return "", fmt.Errorf("%s has initdb but no postgres", d)
	}
	return d, nil
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Start starts a server for tb, stopped and removed when tb ends. Without
// the binaries tb is skipped (failed under CI=true).
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start()
	if errors.Is(err, errUnavailable) {
		peer.Unavailable(tb, "pgtest: PostgreSQL", err)
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

var errUnavailable = errors.New("unavailable")

// start runs initdb and postgres.
func start() (*Server, error) {
	bin, err := Bin()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	root := os.Geteuid() == 0
	// Under /tmp with a short name: the socket path must stay short.
	dir, err := os.MkdirTemp("/tmp", "pg")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{Dir: dir, User: "exchanged_test", Password: secret(), Log: &peer.TailBuffer{Max: 16 << 10}}
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}
	if root {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			return fail(fmt.Errorf("pgtest: %w", err))
		}
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	if root {
		if err := os.Chown(pwfile, nobody, nobody); err != nil {
			return fail(fmt.Errorf("pgtest: %w", err))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	defer cancel()
	data := filepath.Join(dir, "data")
	out, err := command(ctx, root, filepath.Join(bin, "initdb"), "--pgdata", data, "--username", s.User,
		"--pwfile", pwfile, "--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C",
		"--no-sync", "--no-instructions").CombinedOutput()
	os.Remove(pwfile)
	if err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %w: %s", err, peer.LastLines(string(out), peer.LogLines)))
	}
	for attempt := 1; ; attempt++ {
		err := s.launch(bin, root, data)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, peer.ErrBind) || attempt == peer.BindAttempts {
			return fail(err)
		}
	}
}

// command returns name with args in a process group of its own, killed
// when the test binary dies, run as nobody if root is set.
func command(ctx context.Context, root bool, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = peer.SysProcAttr()
	if root {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}
	}
	return cmd
}

// launch starts postgres on a free port and waits until a login works.
func (s *Server) launch(bin string, root bool, data string) error {
	port, err := peer.FreePort()
	if err != nil {
		return err
	}
	cmd := command(context.Background(), root, filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+s.Dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=100", "-c", "shared_buffers=16MB",
		"-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc, s.Port, s.Addr = p, port, "127.0.0.1:"+strconv.Itoa(port)
	db, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	var last error
	for range maxReadyPoll {
		select {
		case <-p.done:
			log := s.Log.String()
			err := fmt.Errorf("pgtest: postgres exited before it was ready: %v: %s", p.err, peer.LastLines(log, peer.LogLines))
			if strings.Contains(log, "could not bind") || strings.Contains(log, "Address already in use") {
				err = fmt.Errorf("%w: %v", peer.ErrBind, err)
			}
			return err
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = db.PingContext(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(readyPoll)
	}
	p.kill()
	return fmt.Errorf("pgtest: postgres not ready after %v: %v: %s", readyTimeout, last, peer.LastLines(s.Log.String(), peer.LogLines))
}

// dsn returns the URL of database db.
func (s *Server) dsn(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.User, s.Password), Host: s.Addr, Path: "/" + db,
		RawQuery: "sslmode=disable&connect_timeout=5"}
	return u.String()
}

// NewDB creates a fresh database on s, dropped when tb ends, and returns
// its DSN (a postgres:// URL with the password).
func (s *Server) NewDB(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%s", s.dbs.Add(1), secret()[:8])
	if err := s.admin(`CREATE DATABASE ` + name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.admin(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			tb.Errorf("pgtest: drop database: %v", err)
		}
	})
	return s.dsn(name)
}

// admin runs one statement on database postgres.
func (s *Server) admin(stmt string) error {
	db, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// Stop shuts the server down (fast shutdown, SIGKILL after stopTimeout)
// and removes its directory.
func (s *Server) Stop() {
	s.stopped.Do(func() {
		if s.proc != nil {
			_ = s.proc.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.proc.done:
			case <-time.After(stopTimeout):
				s.proc.kill()
			}
		}
		os.RemoveAll(s.Dir)
	})
}

// process is a running postgres.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returned
	err  error         // cmd.Wait's result, set before done is closed
}

// kill kills postgres and its backends and waits, bounded, for Wait.
func (p *process) kill() {
	peer.KillTree(p.cmd.Process.Pid)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
	}
}

func secret() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// The package's shared server: started by the first DSN, stopped by Main.
var shared struct {
	sync.Mutex
	main bool // Main is running the tests
	s    *Server
	err  error
}

// Main runs a package's tests (m.Run) and then stops the server its tests
// shared; call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.s != nil {
		shared.s.Stop()
	}
	return code
}

// DSN returns the DSN of a fresh database, dropped when tb ends, on the
// package's shared server, which the first call starts. The package's
// TestMain must call Main. Without the binaries tb is skipped (failed
// under CI=true).
func DSN(tb testing.TB) string {
	tb.Helper()
	shared.Lock()
	if !shared.main {
		shared.Unlock()
		tb.Fatal("pgtest: DSN needs pgtest.Main in the package's TestMain, which stops the server")
		return ""
	}
	if shared.s == nil && shared.err == nil {
		shared.s, shared.err = start()
	}
	s, err := shared.s, shared.err
	shared.Unlock()
	if errors.Is(err, errUnavailable) {
		peer.Unavailable(tb, "pgtest: PostgreSQL", err)
		return ""
	}
	if err != nil {
		tb.Fatal(err)
	}
	return s.NewDB(tb)
}
