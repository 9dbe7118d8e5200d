package peer

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Timings and bounds of a test server's start.
const (
	ReadyTimeout = 15 * time.Second // from exec to a successful SSH login
	readyPoll    = 20 * time.Millisecond
	maxReadyPoll = int(ReadyTimeout / readyPoll)
	DialTimeout  = 2 * time.Second // a login attempt's dial and handshake
	BindAttempts = 5               // ports tried when another process takes the one picked
	LogLines     = 40              // lines of a log in a failure message
)

// ErrBind marks a start that failed because the port was (or may have been) taken by
// another process: Daemon.Start then tries another port, and Restart the same one again.
var ErrBind = errors.New("port in use")

// Daemon is the process side of a real test server: it starts the daemon on a free loopback
// port, waits until a login works, restarts it on the same port and kills it with every
// session it forked. A server package fills in what is its own and keeps the Daemon in an
// unexported field.
type Daemon struct {
	Pkg  string // the server package, which prefixes messages: "sshdtest"
	Name string // the program: "sshd"

	// Addr is "127.0.0.1:port", set by Start.
	Addr string
	// Log receives the daemon's stdout and stderr, across restarts.
	Log *TailBuffer

	// Command returns the daemon, to run in the foreground with the current configuration.
	Command func() *exec.Cmd
	// Mark, if not nil, returns a line written to Log before the n-th launch; the log
	// Exited and Refused see then starts there.
	Mark func(n int) string
	// Logins returns the client configs that must each log in for the daemon to be ready.
	Logins func() ([]*ssh.ClientConfig, error)
	// Exited returns what the daemon's exit before a login (err, Wait's result) means,
	// given its log since the launch; it wraps ErrBind when the port was taken.
	Exited func(err error, log string) error
	// Refused, if not nil, may return what a refused login means, given the log since
	// the launch; when it returns nil the refusal is reported as it is.
	Refused func(err error, log string) error
	// Tail, if not nil, returns the logs for a failure message; by default the last
	// LogLines lines of Log.
	Tail func() string

	launches int
	mu       sync.Mutex
	proc     *Process
}

// Start launches the daemon on a free loopback port, trying another when the one picked
// was taken, up to BindAttempts ports, and stops it when tb's test ends. listen(port) writes
// the configuration for port (Addr is already set). retry, if not nil, may take another
// attempt after a failure other than ErrBind, having changed the configuration. If no
// attempt succeeds the test is skipped, or failed when CI=true (Unavailable).
func (d *Daemon) Start(tb testing.TB, listen func(port int) error, retry func(err error) bool) {
	tb.Helper()
	tb.Cleanup(func() {
		d.Stop()
		if tb.Failed() {
			tb.Logf("%s log (tail):\n%s", d.Name, d.LogTail())
		}
	})
	for attempt := 1; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			d.unavailable(tb, err)
		}
		d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := listen(port); err != nil {
			tb.Fatal(err)
		}
		err = d.launch()
		if err == nil {
			return
		}
		if attempt < BindAttempts && retry != nil && retry(err) {
			continue
		}
		if !errors.Is(err, ErrBind) || attempt == BindAttempts {
			d.unavailable(tb, fmt.Errorf("%w\n%s log (tail):\n%s", err, d.Name, d.LogTail()))
		}
	}
}

func (d *Daemon) unavailable(tb testing.TB, err error) {
	tb.Helper()
	Unavailable(tb, d.Pkg+": "+d.Name, err)
}

// Restart starts the daemon again on the same port and waits until it accepts logins; a
// running one is stopped first. It fails the test if the daemon does not come back.
func (d *Daemon) Restart(tb testing.TB) {
	tb.Helper()
	d.Stop()
	var err error
	for attempt := 1; attempt <= BindAttempts; attempt++ {
		if err = d.launch(); !errors.Is(err, ErrBind) {
			break
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("%v\n%s log (tail):\n%s", err, d.Name, d.LogTail())
	}
}

// Stop kills the daemon and every session it started, at once, as a crash or a pulled
// cable would. It is safe to call more than once.
func (d *Daemon) Stop() {
	d.mu.Lock()
	p := d.proc
	d.proc = nil
	d.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// LogTail returns Tail's logs, or the last LogLines lines of Log.
func (d *Daemon) LogTail() string {
	if d.Tail != nil {
		return d.Tail()
	}
	return LastLines(d.Log.String(), LogLines)
}

// launch starts the daemon and waits until it accepts logins.
func (d *Daemon) launch() error {
	d.launches++
	mark := ""
	if d.Mark != nil {
		mark = d.Mark(d.launches)
		d.Log.Write([]byte(mark))
	}
	cmd := d.Command()
	cmd.Stdout, cmd.Stderr = d.Log, d.Log
	p, err := Start(cmd)
	if err != nil {
		return fmt.Errorf("%s: start %s: %w", d.Pkg, cmd.Path, err)
	}
	d.mu.Lock()
	d.proc = p
	d.mu.Unlock()
	if err := d.waitReady(p, mark); err != nil {
		d.Stop()
		return err
	}
	return nil
}

// waitReady polls, a bounded number of times, until every config of Logins logs in.
func (d *Daemon) waitReady(p *Process, mark string) error {
	// The log of this launch only: earlier ones may hold other failures.
	logNow := func() string {
		l := d.Log.String()
		if i := strings.LastIndex(l, mark); mark != "" && i >= 0 {
			return l[i:]
		}
		return l
	}
	cfgs, err := d.Logins()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(ReadyTimeout)
	var last error
	for range maxReadyPoll {
		select {
		case <-p.Done():
			return d.Exited(p.Err(), logNow())
		default:
		}
		if time.Now().After(deadline) {
			break
		}
		last = nil
		for _, cfg := range cfgs {
			if err := TryLogin(d.Addr, cfg, d.Pkg); err != nil {
				last = fmt.Errorf("as %s: %w", cfg.User, err)
				break
			}
		}
		if last == nil {
			return nil
		}
		var keyErr *knownhosts.KeyError
		if errors.As(last, &keyErr) || strings.Contains(last.Error(), "unable to authenticate") {
			// The daemon answered and refused us, or another server holds the port:
			// waiting will not help.
			if d.Refused != nil {
				if err := d.Refused(last, logNow()); err != nil {
					return err
				}
			}
			return fmt.Errorf("%s: login to %s %w", d.Pkg, d.Addr, last)
		}
		time.Sleep(readyPoll)
	}
	return fmt.Errorf("%s: %s not ready on %s after %v: %v", d.Pkg, d.Name, d.Addr, ReadyTimeout, last)
}

// TryLogin logs in to addr with cfg once, within DialTimeout, rejecting any channel the
// server opens (naming who in the rejection), and logs out.
func TryLogin(addr string, cfg *ssh.ClientConfig, who string) error {
	c, err := net.DialTimeout("tcp", addr, DialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(DialTimeout))
	conn, chans, reqs, err := ssh.NewClientConn(c, addr, cfg)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { ssh.DiscardRequests(reqs) })
	wg.Go(func() {
		for nc := range chans {
			_ = nc.Reject(ssh.Prohibited, who)
		}
	})
	err = conn.Close() // ends both goroutines
	wg.Wait()
	return err
}
