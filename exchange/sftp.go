package exchange

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/config"
)

// SFTP is an Endpoint on an SFTP server. It dials lazily, with the
// context and a timeout, verifies the host key against known_hosts or a
// pinned fingerprint, keeps the connection alive, reuses it for every call,
// and rebuilds it once it is lost.
type SFTP struct {
	partner string
	cfg     config.SFTP
	log     *zap.Logger
	sem     chan struct{} // per-partner connection limit; nil = none

	mu       sync.Mutex
	conn     *ssh.Client
	client   *sftp.Client
	packet   int  // bytes per read or write request on this connection
	readlink bool // READLINK beside each LSTAT: the server may follow symlinks (lstatFollows)
	stopKeep chan struct{}
	keepDone chan struct{}
	// found is the host key algorithms under which a search for a bare
	// pinned fingerprint found the key, asked for first on the next dial.
	found []string
}

// NewSFTP returns an endpoint for a partner's SFTP server. sem, if not
// nil, limits the connections open to that partner at once: a connection
// holds a slot from dial to Close.
func NewSFTP(partner string, cfg config.SFTP, log *zap.Logger, sem chan struct{}) *SFTP {
	if log == nil {
		log = zap.NewNop()
	}
	return &SFTP{partner: partner, cfg: cfg, log: log, sem: sem}
}

func (s *SFTP) String() string { return "sftp://" + s.cfg.Address() }

// client returns the live client, dialling if there is none.
func (s *SFTP) client_(ctx context.Context) (*sftp.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	if s.sem != nil {
		// Bounded: two runs each holding one partner's only slot and
		// waiting for the other's must not wait for ever.
		wait := s.cfg.Timeout.D()
		if wait <= 0 {
			wait = 30 * time.Second
		}
		t := time.NewTimer(wait)
		select {
		case s.sem <- struct{}{}:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
			return nil, fmt.Errorf("sftp %s: no free connection to partner %s within %s (max_conns): %w",
				s.cfg.Address(), s.partner, wait, os.ErrDeadlineExceeded)
		}
	}
	conn, err := s.dial(ctx)
	if err != nil {
		s.release()
		return nil, err
	}
	packet, err := serverPacket(ctx, conn, s.timeout())
	if err != nil {
		s.log.Debug("sftp limits unknown", zap.String("partner", s.partner), zap.String("endpoint", s.String()),
			zap.String("error", err.Error()))
		packet = defaultPacket
	}
	c, err := sftp.NewClient(conn,
		sftp.UseConcurrentWrites(true),
		sftp.UseConcurrentReads(true),
		sftp.MaxPacketUnchecked(packet),
		sftp.MaxConcurrentRequestsPerFile(requestsPerFile(packet)),
	)
	if err != nil {
		conn.Close()
		s.release()
		return nil, fmt.Errorf("sftp %s: start subsystem: %w", s.cfg.Address(), err)
	}
	s.conn, s.client, s.packet = conn, c, packet
	s.readlink = lstatFollows(string(conn.ServerVersion()))
	if ka := s.cfg.KeepAlive.D(); ka > 0 {
		s.stopKeep, s.keepDone = make(chan struct{}), make(chan struct{})
		go s.keepAlive(conn, ka, s.stopKeep, s.keepDone)
	}
	return c, nil
}

func (s *SFTP) release() {
	if s.sem != nil {
		<-s.sem
	}
}

// keepAlive sends keepalive@openssh.com requests; when one fails the
// connection is closed, so that the next call sees it lost and redials.
func (s *SFTP) keepAlive(conn *ssh.Client, every time.Duration, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			errc := make(chan error, 1)
			go func() { _, _, err := conn.SendRequest("keepalive@openssh.com", true, nil); errc <- err }()
			select {
			case err := <-errc:
				if err == nil {
					continue
				}
			case <-time.After(every):
			case <-stop:
				return
			}
			s.log.Warn("connection lost", zap.String("partner", s.partner), zap.String("endpoint", s.String()),
				zap.String("error", "keepalive unanswered"))
			conn.Close()
			return
		}
	}
}

// maxHostKeyDials bounds the dials of one search for a bare pinned
// fingerprint: the default, then each of searchTypes.
var maxHostKeyDials = 1 + len(searchTypes)

// dial connects and authenticates, honouring ctx and the configured
// timeout, which bounds the whole: TCP, SSH handshake, login, and the
// further dials of a search for a bare pinned fingerprint. A refused host
// key is logged once, as a security event, when the dial gives up.
func (s *SFTP) dial(ctx context.Context) (*ssh.Client, error) {
	addr := s.cfg.Address()
	timeout := s.timeout()
	auth, err := s.authMethods()
	if err != nil {
		return nil, err
	}
	pol, err := s.hostKeyPolicy()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	algos := pol.algos
	if pol.search && s.found != nil {
		algos = s.found
	}
	tried := map[string]bool{}
	var refused *hostKeyError
	var offered []string
	for range maxHostKeyDials {
		cc := &ssh.ClientConfig{
			User:              s.cfg.User,
			Auth:              auth,
			HostKeyCallback:   pol.verify,
			HostKeyAlgorithms: algos,
			Timeout:           timeout,
			Config: ssh.Config{
				// AES-GCM is hardware accelerated in Go on amd64 and arm64;
				// chacha20-poly1305 is markedly slower there.
				Ciphers: []string{"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
					"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"},
			},
		}
		c, err := handshake(dctx, addr, cc)
		if err == nil {
			if pol.search {
				s.found = algos
			}
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sftp %s: dial: %w", addr, ctx.Err())
		}
		if dctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			// Closing the connection at the deadline shows as "use of
			// closed network connection": say what happened.
			return nil, fmt.Errorf("sftp %s: connect (TCP, SSH handshake, login) timed out after %s: %w",
				addr, timeout, os.ErrDeadlineExceeded)
		}
		var hk *hostKeyError
		var ne *ssh.AlgorithmNegotiationError
		switch {
		case errors.As(err, &hk):
			if refused != nil {
				hk.presented = append(refused.presented, hk.presented...)
			}
			refused = hk
			tried[hk.keyType] = true
		case errors.As(err, &ne) && ne.What == "host key":
			// The server has no key of the types asked for: known
			// (known_hosts, a typed pin) or searched for.
			offered = ne.RequestedAlgorithms
			for _, t := range searchTypes {
				if slices.Equal(algorithmsFor(t), algos) {
					tried[t] = true
				}
			}
		default:
			return nil, s.handshakeError(err)
		}
		if pol.search {
			if algos = nextSearch(tried, offered); algos != nil {
				continue
			}
		}
		break
	}
	if refused == nil {
		refused = &hostKeyError{sentinel: ErrHostKeyChanged, addr: addr, offered: offered, asked: pol.algos}
		if pol.algos == nil {
			refused.asked = []string{"any"}
		}
	}
	s.found = nil
	s.logRefused(refused)
	return nil, fmt.Errorf("sftp %s: %w", addr, refused)
}

// handshake dials addr and runs the SSH handshake and login, within ctx:
// the handshake has no context of its own, so it is bounded by ctx's
// deadline and cut short if ctx ends first.
func handshake(ctx context.Context, addr string, cc *ssh.ClientConfig) (*ssh.Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, cc)
	if !stop() && err == nil {
		c.Close()
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

func (s *SFTP) timeout() time.Duration {
	if t := s.cfg.Timeout.D(); t > 0 {
		return t
	}
	return 30 * time.Second
}

func (s *SFTP) handshakeError(err error) error {
	addr := s.cfg.Address()
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("sftp %s: %w", addr, err)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("sftp %s: user %q: %w", addr, s.cfg.User, ErrAuth)
	}
	return fmt.Errorf("sftp %s: handshake: %w", addr, err)
}

func (s *SFTP) authMethods() ([]ssh.AuthMethod, error) {
	addr := s.cfg.Address()
	switch {
	case s.cfg.PrivateKey.IsSet():
		var (
			signer ssh.Signer
			err    error
		)
		if s.cfg.Passphrase.IsSet() {
			signer, err = ssh.ParsePrivateKeyWithPassphrase(s.cfg.PrivateKey.Value, s.cfg.Passphrase.Value)
		} else {
			signer, err = ssh.ParsePrivateKey(s.cfg.PrivateKey.Value)
		}
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return nil, Permanent(fmt.Errorf("sftp %s: private key %s is encrypted and no passphrase is set", addr, s.cfg.PrivateKey))
			}
			// The parser's message never holds key material.
			return nil, Permanent(fmt.Errorf("sftp %s: private key %s: %v", addr, s.cfg.PrivateKey, err))
		}
		return []ssh.AuthMethod{ssh.PublicKeys(signer)}, nil
	case s.cfg.Password.IsSet():
		return []ssh.AuthMethod{ssh.Password(string(s.cfg.Password.Value))}, nil
	}
	return nil, Permanent(fmt.Errorf("sftp %s: no private_key or password", addr))
}

// retryable reports whether err means the connection is gone, so that the
// call may be repeated on a new one.
func lostConnection(err error) bool {
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}

// drop closes a lost connection so that the next call redials.
func (s *SFTP) drop(c *sftp.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == c {
		s.closeLocked()
	}
}

// do runs an idempotent call, once more on a new connection if the first
// one was lost.
func (s *SFTP) do(ctx context.Context, f func(*sftp.Client) error) error {
	for attempt := 0; ; attempt++ {
		c, err := s.client_(ctx)
		if err != nil {
			return err
		}
		err = f(c)
		if err == nil || !lostConnection(err) {
			return err
		}
		s.drop(c)
		if attempt == 1 || ctx.Err() != nil {
			return err
		}
		s.log.Info("reconnecting", zap.String("partner", s.partner), zap.String("endpoint", s.String()))
	}
}

// once runs a call that is not safe to repeat blindly; a lost connection
// is dropped so that the next call redials, and the error returned.
func (s *SFTP) once(ctx context.Context, f func(*sftp.Client) error) error {
	c, err := s.client_(ctx)
	if err != nil {
		return err
	}
	err = f(c)
	if err != nil && lostConnection(err) {
		s.drop(c)
	}
	return err
}

func (s *SFTP) List(ctx context.Context, dir string) ([]FileInfo, error) {
	var out []FileInfo
	err := s.do(ctx, func(c *sftp.Client) error {
		// READDIR returns each entry's attributes as lstat would: one round
		// trip per batch, no stat per file, symlinks reported as symlinks.
		fis, err := c.ReadDirContext(ctx, dir)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, fi := range fis {
			out = append(out, fileInfo(fi))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sftp %s: list %q: %w", s.cfg.Address(), dir, notExist(err))
	}
	return out, nil
}

// Stat returns the entry at p as LSTAT shows it. On a server whose LSTAT
// may follow a symlink (lstatFollows), READLINK tells a symlink apart: it
// is returned as one, its size that of the target path the server
// reports, its mtime unknown (zero), since LSTAT showed its target's.
func (s *SFTP) Stat(ctx context.Context, p string) (FileInfo, error) {
	var out FileInfo
	err := s.do(ctx, func(c *sftp.Client) error {
		var err error
		out, err = s.lstat(c, p)()
		return err
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("sftp %s: stat %q: %w", s.cfg.Address(), p, refused("stat", notExist(err)))
	}
	return out, nil
}

// lstatFollows reports whether a server, known by its SSH identification
// string, may follow a symlink in LSTAT: SFTP v3 says LSTAT does not,
// but ProFTPD's mod_sftp ("SSH-2.0-mod_sftp") resolves every path before
// it looks. Only servers known to lstat(2) the path itself are trusted:
// OpenSSH (its sftp-server and internal-sftp) and the in-process server
// of internal/sftpd (os.Root.Lstat). Every other server, known or not,
// gets READLINK beside each LSTAT. A server that claims to be OpenSSH is
// taken at its word.
func lstatFollows(serverVersion string) bool {
	for _, prefix := range []string{"SSH-2.0-OpenSSH_", "SSH-2.0-exchanged_sftpd"} {
		if strings.HasPrefix(serverVersion, prefix) {
			return false
		}
	}
	return true
}

// lstat sends LSTAT for p, and READLINK beside it where the server's
// LSTAT may follow a symlink, and returns a func that waits for the
// answers. The requests go out from goroutines of their own, so that they
// are in flight together (and with whatever the caller sends before it
// waits): READLINK costs a request, not a round trip. A symlink is
// returned with fs.ModeSymlink, whichever of the two showed it.
func (s *SFTP) lstat(c *sftp.Client, p string) func() (FileInfo, error) {
	s.mu.Lock()
	readlink := s.readlink || s.client != c // a client not ours: the safe path
	s.mu.Unlock()
	var (
		fi         os.FileInfo
		target     string
		err, rlerr error
		wg         sync.WaitGroup
	)
	wg.Go(func() { fi, err = c.Lstat(p) })
	if readlink {
		wg.Go(func() { target, rlerr = c.ReadLink(p) })
	}
	return func() (FileInfo, error) {
		wg.Wait()
		switch {
		case err != nil:
			return FileInfo{}, err
		case !readlink || fi.Mode()&fs.ModeSymlink != 0 || notSymlink(rlerr):
			return fileInfo(fi), nil
		case rlerr == nil:
			return FileInfo{Name: fi.Name(), Size: int64(len(target)), Mode: fs.ModeSymlink | 0o777}, nil
		case isNotExist(rlerr):
			return FileInfo{}, rlerr // gone since the LSTAT
		}
		// Refused (ProFTPD's <Limit READLINK>) or not understood: a file
		// that cannot be told from a symlink is not taken for a file.
		return FileInfo{}, fmt.Errorf("readlink, to tell a symlink from a file: %w", refused("readlink", rlerr))
	}
}

// notSymlink reports whether err, a READLINK's answer, says that the path
// is not a symlink: readlink(2)'s EINVAL, which OpenSSH and pkg/sftp send
// as status 4 (failure) and ProFTPD as status 8 (op unsupported), the
// status also of a server that has no READLINK (and no symlinks).
func notSymlink(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && (se.FxCode() == sftp.ErrSSHFxFailure || se.FxCode() == sftp.ErrSSHFxOpUnsupported)
}

func (s *SFTP) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	return s.open(ctx, p, nil)
}

// OpenListed opens the regular file at p that a listing showed as listed.
// It sends the lstat that Open sends first together with the open, which
// spares a round trip per file: the file opened must be the regular file
// lstat shows (no symlink followed), with the listed size, or it is
// refused, wrapping ErrSizeMismatch if it is a regular file that changed
// since, and ErrNotRegular if it is not a regular file.
func (s *SFTP) OpenListed(ctx context.Context, p string, listed FileInfo) (io.ReadCloser, error) {
	if !listed.IsRegular() {
		return nil, fmt.Errorf("sftp %s: open %q: %w", s.cfg.Address(), p, ErrNotRegular)
	}
	return s.open(ctx, p, &listed)
}

// open opens the regular file at p. SFTP v3 has no O_NOFOLLOW, and OPEN
// follows a symlink on every server we know (OpenSSH calls open(2)
// without O_NOFOLLOW, ProFTPD resolves the path first), so: lstat (with
// READLINK where the server's LSTAT may follow a symlink too), open, then
// fstat the handle: what was opened must be the regular file lstat
// showed, with its size and mtime. A symlink is refused with
// ErrNotRegular and logged as a security event; so is anything else
// swapped in between, without the event. With a listing, lstat and open
// go out together.
//
// What this cannot see: a symlink swapped in after the server answered
// LSTAT (and READLINK) and before it OPENs, or answered before them (with
// a listing the three are in flight at once, in no set order), whose
// target has exactly the size and mtime lstat showed. Then the target is
// read. The window is one request's handling on the server, and the
// target must be readable by our user there (on a chrooted login, within
// the chroot).
func (s *SFTP) open(ctx context.Context, p string, listed *FileInfo) (io.ReadCloser, error) {
	var f sftpReader
	var symlink bool
	err := s.do(ctx, func(c *sftp.Client) error {
		var lfi FileInfo
		var lerr, err error
		look := s.lstat(c, p)
		if listed == nil {
			if lfi, lerr = look(); lerr == nil && lfi.IsRegular() {
				f.File, err = c.OpenFile(p, os.O_RDONLY)
			}
		} else {
			f.File, err = c.OpenFile(p, os.O_RDONLY)
			lfi, lerr = look()
		}
		symlink = lerr == nil && lfi.Mode&fs.ModeSymlink != 0
		if lerr == nil && !lfi.IsRegular() {
			lerr = ErrNotRegular // whatever the open made of it
		}
		if lerr != nil || err != nil {
			if f.File != nil {
				f.File.Close()
			}
			return cmp.Or(lerr, err)
		}
		ofi, err := f.File.Stat()
		switch {
		case err != nil:
		case !ofi.Mode().IsRegular() || ofi.Size() != lfi.Size || !ofi.ModTime().Equal(lfi.ModTime):
			err = ErrNotRegular
		case listed != nil && lfi.Size != listed.Size:
			err = fmt.Errorf("%w: listed %d bytes, now %d", ErrSizeMismatch, listed.Size, lfi.Size)
		}
		if err != nil {
			f.File.Close()
			return err
		}
		s.mu.Lock()
		f.packet = s.packet
		s.mu.Unlock()
		f.size = lfi.Size
		f.abort = s.abortFunc(c)
		return nil
	})
	if symlink {
		s.log.Warn("symlink refused", zap.Bool("security", true), zap.String("partner", s.partner),
			zap.String("endpoint", s.String()), zap.String("file", path.Base(p)), zap.String("outcome", "refused"))
	}
	if err != nil {
		return nil, fmt.Errorf("sftp %s: open %q: %w", s.cfg.Address(), p, notExist(err))
	}
	return f, nil
}

// sftpReader is a remote file open for reading, with the size lstat gave
// it just before.
type sftpReader struct {
	*sftp.File
	size   int64
	packet int
	abort  func()
}

// Abort cuts the connection under a transfer in progress: pkg/sftp holds
// the file's lock for a whole WriteTo or ReadFrom, so Close would wait for
// the transfer to end. The next call redials.
func (f sftpReader) Abort() { f.abort() }

// smallBufs holds read buffers of one request and a byte.
var smallBufs sync.Pool

// WriteTo copies the file to w. A file smaller than one request is read in
// one round trip: two requests at once, the second past its end, where
// pkg/sftp's own WriteTo would stat it first and then read until a read
// comes back empty. A larger file, or one that grew since the lstat, goes
// through pkg/sftp's concurrent reads; the caller checks the size read.
func (r sftpReader) WriteTo(w io.Writer) (int64, error) {
	if r.packet <= 0 || r.size >= int64(r.packet) {
		return r.File.WriteTo(w)
	}
	bp, _ := smallBufs.Get().(*[]byte)
	if bp == nil || len(*bp) != r.packet+1 {
		b := make([]byte, r.packet+1)
		bp = &b
	}
	defer smallBufs.Put(bp)
	// More than one request's worth: pkg/sftp sends both requests at once
	// and takes a short read as the end of the file.
	n, err := r.File.ReadAt(*bp, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if m, werr := w.Write((*bp)[:n]); werr != nil {
		return int64(m), werr
	}
	if err != nil {
		return int64(n), nil // io.EOF: the whole file
	}
	if _, err := r.File.Seek(int64(n), io.SeekStart); err != nil {
		return int64(n), err
	}
	m, err := r.File.WriteTo(w)
	return int64(n) + m, err
}

// Create opens p with O_CREAT|O_EXCL, the one request a write-only drop
// folder allows. A server that answers an existing p with a generic
// failure rather than SSH_FX_FILE_ALREADY_EXISTS is asked with an lstat
// whether p exists; if that is refused too, the failure is returned as it
// came.
func (s *SFTP) Create(ctx context.Context, p string) (WriteFile, error) {
	var f *sftp.File
	err := s.once(ctx, func(c *sftp.Client) error {
		var err error
		f, err = c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		switch {
		case err == nil:
		case alreadyExists(err):
			return ErrExists
		case isFailure(err) || isDenied(err):
			// ProFTPD (AllowOverwrite off) refuses an existing target as
			// a permission.
			if _, serr := c.Lstat(p); serr == nil {
				return ErrExists
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sftp %s: create %q: %w", s.cfg.Address(), p, refused("create", notExist(err)))
	}
	var abort func()
	if c, cerr := s.client_(ctx); cerr == nil {
		abort = s.abortFunc(c)
	}
	return sftpFile{File: f, abort: abort}, nil
}

// abortFunc returns a func that drops the connection of client c.
func (s *SFTP) abortFunc(c *sftp.Client) func() {
	return func() { s.drop(c) }
}

// sftpFile treats a server without fsync@openssh.com as having synced:
// the server's close is then the last word we can have.
type sftpFile struct {
	*sftp.File
	abort func()
}

// Abort cuts the connection under an upload in progress (see sftpReader).
func (f sftpFile) Abort() {
	if f.abort != nil {
		f.abort()
	}
}

func (f sftpFile) Sync() error {
	err := f.File.Sync()
	var se *sftp.StatusError
	if errors.Is(err, sftp.ErrSSHFxOpUnsupported) || (errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported) {
		return nil
	}
	return err
}

// ReadFrom uploads with concurrent writes. pkg/sftp's own ReadFrom goes
// concurrent only when it can learn r's size (Len, Size, Stat: a staged
// *os.File has Stat, also behind io.Copy's os.File.WriteTo detour) and
// writes one request at a time otherwise; a stream of unknown size gets
// concurrent writes here too. A write that fails fails the whole call, so
// that the caller removes the file: later writes may have succeeded and
// left it at full size around a hole.
func (f sftpFile) ReadFrom(r io.Reader) (int64, error) {
	switch r.(type) {
	case interface{ Len() int }, interface{ Size() int64 }, *io.LimitedReader,
		interface{ Stat() (os.FileInfo, error) }:
		return f.File.ReadFrom(r)
	}
	return f.File.ReadFromWithConcurrency(r, 0)
}

// Rename never replaces an existing file. Where the server offers
// hardlink@openssh.com (OpenSSH does), it links to to from, which fails
// atomically if to exists, then removes from. Elsewhere, or if the server
// refuses the link, it uses plain SFTP rename, which the protocol
// forbids to replace an existing target; OpenSSH and ProFTPD keep to that,
// but some servers (SFTPGo with overwrite permission) replace, so a check
// first narrows the window there to the moment between check and rename.
// posix-rename@openssh.com would replace, so it is never used. An existing
// target is ErrExists however the server says so: ProFTPD's
// SSH_FX_FILE_ALREADY_EXISTS, or a failure while lstat finds to.
//
// A crash between link and remove leaves one file under both names. Rename
// does not complete that: SFTP shows no inode, and another file alike by
// lstat (two of ours of one size, made in one second) would pass for the
// same one, and ours be removed. Here to exists, and the answer is
// ErrExists: the caller that recorded the upload tells (see SameFile).
func (s *SFTP) Rename(ctx context.Context, from, to string) error {
	var left error // from could not be removed after the link
	err := s.once(ctx, func(c *sftp.Client) error {
		if _, ok := c.HasExtension(hardlinkExtension); ok {
			err := c.Link(from, to)
			switch {
			case err == nil:
				failpoint("linked")
				if left = c.Remove(from); lostConnection(left) {
					return left // the next Rename completes it
				}
				return nil
			case alreadyExists(err) || isFailure(err) && s.exists(c, to):
				return ErrExists
			case isNotExist(err) || lostConnection(err):
				return err
			}
			// Refused or not supported after all: a plain rename may
			// still be allowed.
		}
		if _, err := c.Lstat(to); err == nil {
			return ErrExists
		} else if !isNotExist(err) {
			return refused("stat", err)
		}
		err := c.Rename(from, to)
		if alreadyExists(err) || isFailure(err) && s.exists(c, to) {
			return ErrExists
		}
		return refused("rename", err)
	})
	if err != nil {
		return fmt.Errorf("sftp %s: rename %q to %q: %w", s.cfg.Address(), from, to, notExist(err))
	}
	if left != nil && !isNotExist(left) {
		return fmt.Errorf("sftp %s: rename %q to %q: %w: %w", s.cfg.Address(), from, to, ErrOldNameLeft, refused("remove", left))
	}
	return nil
}

// hardlinkExtension is OpenSSH's link(2), which never replaces its target.
const hardlinkExtension = "hardlink@openssh.com"

// exists reports whether lstat finds p.
func (s *SFTP) exists(c *sftp.Client, p string) bool {
	_, err := c.Lstat(p)
	return err == nil
}

// SameFile reports whether lstat shows a and b alike: both regular files
// (b not a symlink, where the server's LSTAT may follow one), of one size,
// mtime, mode, owner and group. SFTP shows no inode, so two files alike by
// chance are alike too: only a caller that knows that it linked one name
// to the other, and cannot read them, may take the answer for one file.
func (s *SFTP) SameFile(ctx context.Context, a, b string) (bool, error) {
	var same bool
	err := s.do(ctx, func(c *sftp.Client) error {
		ai, err := c.Lstat(a)
		if err != nil {
			return err
		}
		bi, err := c.Lstat(b)
		if err != nil {
			return err
		}
		fi, err := s.lstat(c, b)()
		same = err == nil && fi.IsRegular() && sameFile(ai, bi)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sftp %s: stat %q and %q: %w", s.cfg.Address(), a, b, refused("stat", notExist(err)))
	}
	return same, nil
}

// sameFile reports whether two lstat results can be one file under two
// names: both regular, with the same size, mtime, mode, owner and group.
func sameFile(a, b os.FileInfo) bool {
	if !a.Mode().IsRegular() || a.Mode() != b.Mode() || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
		return false
	}
	as, aok := a.Sys().(*sftp.FileStat)
	bs, bok := b.Sys().(*sftp.FileStat)
	return aok && bok && as.UID == bs.UID && as.GID == bs.GID
}

func (s *SFTP) Remove(ctx context.Context, p string) error {
	err := s.do(ctx, func(c *sftp.Client) error { return c.Remove(p) })
	if err != nil {
		return fmt.Errorf("sftp %s: remove %q: %w", s.cfg.Address(), p, refused("remove", notExist(err)))
	}
	return nil
}

func (s *SFTP) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

func (s *SFTP) closeLocked() error {
	if s.client == nil {
		return nil
	}
	if s.stopKeep != nil {
		close(s.stopKeep)
		<-s.keepDone
		s.stopKeep, s.keepDone = nil, nil
	}
	err := s.client.Close()
	if cerr := s.conn.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	s.client, s.conn = nil, nil
	s.release()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("sftp %s: close: %w", s.cfg.Address(), err)
	}
	return nil
}

func isNotExist(err error) bool {
	var se *sftp.StatusError
	return errors.Is(err, fs.ErrNotExist) || (errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxNoSuchFile)
}

// fxFileAlreadyExists is SSH_FX_FILE_ALREADY_EXISTS, a status of SFTP v5
// that ProFTPD sends v3 clients too, for a rename onto an existing target.
const fxFileAlreadyExists = 11

// alreadyExists reports whether err is a server's "file already exists":
// the one place that reads status 11 as ErrExists.
func alreadyExists(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == fxFileAlreadyExists
}

func isFailure(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure
}

// fxWriteProtect is SSH_FX_WRITE_PROTECT, a status of SFTP v5 that a
// server may send v3 clients too, for a request refused as read-only.
const fxWriteProtect = 12

// isDenied reports whether err refuses a request for lack of permission:
// fs.ErrPermission (pkg/sftp's name for SSH_FX_PERMISSION_DENIED, and the
// local EACCES and EPERM), or the status itself, or SSH_FX_WRITE_PROTECT.
func isDenied(err error) bool {
	var se *sftp.StatusError
	return errors.Is(err, fs.ErrPermission) ||
		errors.As(err, &se) && (se.FxCode() == sftp.ErrSSHFxPermissionDenied || se.Code == fxWriteProtect)
}

// notExist makes a server's "no such file" answer errors.Is(fs.ErrNotExist).
func notExist(err error) error {
	if isNotExist(err) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (%v)", fs.ErrNotExist, err)
	}
	return err
}

// Request sizes. Every SFTP server must accept reads and writes of 32 KiB,
// pkg/sftp's default. OpenSSH says in its limits@openssh.com extension that
// it takes up to 255 KiB (256 KiB messages less 1 KiB of header room), and
// packets of that size cost client and server a fraction of the CPU per
// byte: on loopback, half of ours. A read larger than the server serves
// would come back short, which pkg/sftp's concurrent WriteTo does not
// handle (the size check would then refuse every pull), so the size is
// never more than the server says.
const (
	defaultPacket = 32 << 10
	maxPacket     = 256<<10 - 1<<10 // pkg/sftp refuses a message over 256 KiB
	// Bytes requested ahead per file: four times x/crypto/ssh's 2 MiB
	// channel window, so that the window never runs dry.
	inflightPerFile    = 8 << 20
	maxRequestsPerFile = 64
)

// requestsPerFile returns how many requests of packet bytes to keep in
// flight per file.
func requestsPerFile(packet int) int {
	return max(1, min(maxRequestsPerFile, inflightPerFile/packet))
}

// SFTP packet types and the extension used by serverPacket.
const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpExtended      = 200
	fxpExtendedReply = 201
	limitsExtension  = "limits@openssh.com"
	maxProbeMessage  = 64 << 10 // a VERSION or limits reply is far smaller
)

// serverPacket returns the largest read and write the server accepts, up
// to maxPacket, as it announces in limits@openssh.com, or defaultPacket if
// it does not. pkg/sftp neither asks nor offers a way to, so it asks on a
// short SFTP session of its own (one round trip after the INIT), closed
// before the real one starts.
func serverPacket(ctx context.Context, conn *ssh.Client, timeout time.Duration) (int, error) {
	sess, err := conn.NewSession()
	if err != nil {
		return 0, err
	}
	defer sess.Close()
	w, err := sess.StdinPipe()
	if err != nil {
		return 0, err
	}
	r, err := sess.StdoutPipe()
	if err != nil {
		return 0, err
	}
	// A server that never answers must not hold the dial: closing the
	// session ends the reads below.
	timer := time.AfterFunc(timeout, func() { sess.Close() })
	defer timer.Stop()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	if err := sess.RequestSubsystem("sftp"); err != nil {
		return 0, err
	}
	if err := writeFxp(w, fxpInit, binary.BigEndian.AppendUint32(nil, 3)); err != nil {
		return 0, err
	}
	typ, body, err := readFxp(r)
	if err != nil {
		return 0, err
	}
	if typ != fxpVersion || len(body) < 4 {
		return 0, fmt.Errorf("sftp limits: unexpected packet %d", typ)
	}
	has := false
	for rest := body[4:]; len(rest) > 0; {
		var name, data []byte
		if name, rest, err = fxpString(rest); err == nil {
			data, rest, err = fxpString(rest)
		}
		if err != nil {
			return 0, err
		}
		has = has || string(name) == limitsExtension && string(data) == "1"
	}
	if !has {
		return defaultPacket, nil
	}
	req := binary.BigEndian.AppendUint32(nil, 1) // request id
	req = binary.BigEndian.AppendUint32(req, uint32(len(limitsExtension)))
	req = append(req, limitsExtension...)
	if err := writeFxp(w, fxpExtended, req); err != nil {
		return 0, err
	}
	typ, body, err = readFxp(r)
	if err != nil {
		return 0, err
	}
	if typ != fxpExtendedReply || len(body) < 4+4*8 || binary.BigEndian.Uint32(body) != 1 {
		return defaultPacket, nil // e.g. a status: unsupported after all
	}
	// max-packet-length, max-read-length, max-write-length, max-open-handles;
	// 0 means the server sets no limit of that kind.
	lim := body[4:]
	packet := maxPacket
	if n := binary.BigEndian.Uint64(lim[0:]); n > 0 && n < 1<<31 {
		packet = min(packet, int(n)-1<<10)
	}
	for _, n := range []uint64{binary.BigEndian.Uint64(lim[8:]), binary.BigEndian.Uint64(lim[16:])} {
		if n > 0 && n < 1<<31 {
			packet = min(packet, int(n))
		}
	}
	if packet < 1<<10 {
		return defaultPacket, nil // nonsense: keep what every server takes
	}
	return packet, nil
}

// writeFxp writes one SFTP packet: length, type, body.
func writeFxp(w io.Writer, typ byte, body []byte) error {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 5+len(body)), uint32(1+len(body)))
	b = append(append(b, typ), body...)
	_, err := w.Write(b)
	return err
}

// readFxp reads one SFTP packet of at most maxProbeMessage bytes.
func readFxp(r io.Reader) (byte, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 1 || n > maxProbeMessage {
		return 0, nil, fmt.Errorf("sftp limits: packet of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return b[0], b[1:], nil
}

// fxpString splits an SFTP string (uint32 length, bytes) off b.
func fxpString(b []byte) (s, rest []byte, err error) {
	if len(b) < 4 || uint64(binary.BigEndian.Uint32(b)) > uint64(len(b)-4) {
		return nil, nil, errors.New("sftp limits: short packet")
	}
	n := binary.BigEndian.Uint32(b)
	return b[4 : 4+n], b[4+n:], nil
}
