package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
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
	slot    Slot          // the cluster-wide limit (SetSlot); nil = none

	mu       sync.Mutex
	conn     *ssh.Client
	client   *sftp.Client
	packet   int  // bytes per read or write request on this connection
	readlink bool // READLINK beside each LSTAT: the server may follow symlinks (lstatFollows)
	stopKeep chan struct{}
	keepDone chan struct{}
	// slotRelease gives back the cluster-wide slot the connection holds.
	slotRelease func()
	// found is the host key algorithms under which a search for a bare
	// pinned fingerprint found the key, asked for first on the next dial.
	found []string
}

var _ endpoint.Endpoint = (*SFTP)(nil)

// New returns an endpoint for a partner's SFTP server. sem, if not nil,
// limits the connections open to that partner at once: a connection holds
// a slot from dial to Close, and a dial waits for a free slot no longer
// than the connect timeout.
func New(partner string, cfg config.SFTP, log *zap.Logger, sem chan struct{}) *SFTP {
	if log == nil {
		log = zap.NewNop()
	}
	return &SFTP{partner: partner, cfg: cfg, log: log, sem: sem}
}

// Slot takes one of a partner's connection slots across a cluster, for a
// connection about to be dialled: it returns how to give it back, and a
// channel closed when the slot is lost (not renewed in time), or an error
// when none came free while ctx lasted.
type Slot func(ctx context.Context) (release func(), lost <-chan struct{}, err error)

// SetSlot makes every connection of s hold a slot taken with slot, after
// the local one (sem): a cluster's max_conns. A connection whose slot is
// lost is closed.
func (s *SFTP) SetSlot(slot Slot) { s.slot = slot }

// String describes the endpoint for logs: sftp://host:port.
func (s *SFTP) String() string { return "sftp://" + s.cfg.Address() }

// Connect dials now if no connection is up, so that a refused host key or
// login is reported before any file operation (config validate
// --connect). Later calls reuse the connection.
func (s *SFTP) Connect(ctx context.Context) error {
	_, err := s.client_(ctx)
	return err
}

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
		wait := s.cfg.ConnectTimeout()
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
	var lost <-chan struct{}
	if s.slot != nil {
		rel, l, err := s.slot(ctx)
		if err != nil {
			s.release()
			return nil, fmt.Errorf("sftp %s: partner %s (max_conns): %w", s.cfg.Address(), s.partner, err)
		}
		s.slotRelease, lost = rel, l
	}
	conn, err := s.dial(ctx)
	if err != nil {
		s.release()
		return nil, err
	}
	if lost != nil {
		go func() {
			<-lost // closed by the release too: conn is closed already then
			conn.Close()
		}()
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
	if s.slotRelease != nil {
		s.slotRelease()
		s.slotRelease = nil
	}
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

// lostConnection reports whether err means the connection is gone, so
// that the call may be repeated on a new one.
func lostConnection(err error) bool {
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, endpoint.ErrConnectionLost)
}

// connectionLost returns err wrapping endpoint.ErrConnectionLost if it
// means that the connection is gone (lostConnection), else err unchanged:
// the one place where pkg/sftp's words for it become the endpoint's.
func connectionLost(err error) error {
	if err == nil || !lostConnection(err) || errors.Is(err, endpoint.ErrConnectionLost) {
		return err
	}
	return fmt.Errorf("%w: %w", endpoint.ErrConnectionLost, err)
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
			return connectionLost(err)
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
		return connectionLost(err)
	}
	return err
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
