package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
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

	mu          sync.Mutex
	conn        *ssh.Client
	client      *sftp.Client
	posixRename bool
	stopKeep    chan struct{}
	keepDone    chan struct{}
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
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	conn, err := s.dial(ctx)
	if err != nil {
		s.release()
		return nil, err
	}
	c, err := sftp.NewClient(conn,
		sftp.UseConcurrentWrites(true),
		sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(64),
	)
	if err != nil {
		conn.Close()
		s.release()
		return nil, fmt.Errorf("sftp %s: start subsystem: %w", s.cfg.Address(), err)
	}
	_, s.posixRename = c.HasExtension("posix-rename@openssh.com")
	s.conn, s.client = conn, c
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

// dial connects and authenticates, honouring ctx and the configured timeout.
func (s *SFTP) dial(ctx context.Context) (*ssh.Client, error) {
	addr := s.cfg.Address()
	timeout := s.cfg.Timeout.D()
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	auth, err := s.authMethods()
	if err != nil {
		return nil, err
	}
	hostKey, algos, err := s.hostKeyCallback()
	if err != nil {
		return nil, err
	}
	cc := &ssh.ClientConfig{
		User:              s.cfg.User,
		Auth:              auth,
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
		Timeout:           timeout,
		Config: ssh.Config{
			// AES-GCM is hardware accelerated in Go on amd64 and arm64;
			// chacha20-poly1305 is markedly slower there.
			Ciphers: []string{"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
				"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"},
		},
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sftp %s: dial: %w", addr, err)
	}
	// The handshake has no context of its own: bound it by a deadline, and
	// cut it short if ctx ends first.
	_ = nc.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(dctx, func() { nc.Close() })
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, cc)
	stop()
	if err != nil {
		nc.Close()
		return nil, s.handshakeError(err)
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

func (s *SFTP) handshakeError(err error) error {
	addr := s.cfg.Address()
	switch {
	case errors.Is(err, ErrHostKeyUnknown), errors.Is(err, ErrHostKeyChanged):
		return fmt.Errorf("sftp %s: %w", addr, unwrapTo(err))
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("sftp %s: user %q: %w", addr, s.cfg.User, ErrAuth)
	}
	return fmt.Errorf("sftp %s: handshake: %w", addr, err)
}

// unwrapTo returns the host key sentinel err wraps, with its detail.
func unwrapTo(err error) error {
	var hk *hostKeyError
	if errors.As(err, &hk) {
		return hk
	}
	return err
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

func (s *SFTP) Stat(ctx context.Context, p string) (FileInfo, error) {
	var out FileInfo
	err := s.do(ctx, func(c *sftp.Client) error {
		fi, err := c.Lstat(p)
		if err == nil {
			out = fileInfo(fi)
		}
		return err
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("sftp %s: stat %q: %w", s.cfg.Address(), p, notExist(err))
	}
	return out, nil
}

func (s *SFTP) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	var f *sftp.File
	err := s.do(ctx, func(c *sftp.Client) error {
		// SFTP v3 has no O_NOFOLLOW: check with lstat, then open. The
		// caller checks the size read against the listing.
		fi, err := c.Lstat(p)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return ErrNotRegular
		}
		f, err = c.OpenFile(p, os.O_RDONLY)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sftp %s: open %q: %w", s.cfg.Address(), p, notExist(err))
	}
	return f, nil
}

func (s *SFTP) Create(ctx context.Context, p string) (WriteFile, error) {
	var f *sftp.File
	err := s.once(ctx, func(c *sftp.Client) error {
		var err error
		f, err = c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil && isFailure(err) {
			if _, serr := c.Lstat(p); serr == nil {
				return ErrExists
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sftp %s: create %q: %w", s.cfg.Address(), p, notExist(err))
	}
	return sftpFile{f}, nil
}

// sftpFile treats a server without fsync@openssh.com as having synced:
// the server's close is then the last word we can have.
type sftpFile struct{ *sftp.File }

func (f sftpFile) Sync() error {
	err := f.File.Sync()
	var se *sftp.StatusError
	if errors.Is(err, sftp.ErrSSHFxOpUnsupported) || (errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported) {
		return nil
	}
	return err
}

// ReadFrom uploads with concurrent writes.
func (f sftpFile) ReadFrom(r io.Reader) (int64, error) { return f.File.ReadFrom(r) }

// Rename never replaces an existing file: it checks, then uses
// posix-rename@openssh.com where the server offers it (atomic), or plain
// SFTP rename, which OpenSSH already refuses over an existing file.
func (s *SFTP) Rename(ctx context.Context, from, to string) error {
	err := s.once(ctx, func(c *sftp.Client) error {
		if _, err := c.Lstat(to); err == nil {
			return ErrExists
		} else if !isNotExist(err) {
			return err
		}
		s.mu.Lock()
		posix := s.posixRename
		s.mu.Unlock()
		var err error
		if posix {
			err = c.PosixRename(from, to)
		} else {
			err = c.Rename(from, to)
		}
		if err != nil && isFailure(err) {
			if _, serr := c.Lstat(to); serr == nil {
				return ErrExists
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sftp %s: rename %q to %q: %w", s.cfg.Address(), from, to, notExist(err))
	}
	return nil
}

func (s *SFTP) Remove(ctx context.Context, p string) error {
	err := s.do(ctx, func(c *sftp.Client) error { return c.Remove(p) })
	if err != nil {
		return fmt.Errorf("sftp %s: remove %q: %w", s.cfg.Address(), p, notExist(err))
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

func isFailure(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure
}

// notExist makes a server's "no such file" answer errors.Is(fs.ErrNotExist).
func notExist(err error) error {
	if isNotExist(err) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (%v)", fs.ErrNotExist, err)
	}
	return err
}
