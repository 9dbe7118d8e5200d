package sftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/exchange/endpoint"
)

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
		refused = &hostKeyError{sentinel: endpoint.ErrHostKeyChanged, addr: addr, offered: offered, asked: pol.algos}
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

func (s *SFTP) timeout() time.Duration { return s.cfg.ConnectTimeout() }

func (s *SFTP) handshakeError(err error) error {
	addr := s.cfg.Address()
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("sftp %s: %w", addr, err)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("sftp %s: user %q: %w", addr, s.cfg.User, endpoint.ErrAuth)
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
				return nil, endpoint.Permanent(fmt.Errorf("sftp %s: private key %s is encrypted and no passphrase is set", addr, s.cfg.PrivateKey))
			}
			// The parser's message never holds key material.
			return nil, endpoint.Permanent(fmt.Errorf("sftp %s: private key %s: %v", addr, s.cfg.PrivateKey, err))
		}
		return []ssh.AuthMethod{ssh.PublicKeys(signer)}, nil
	case s.cfg.Password.IsSet():
		return []ssh.AuthMethod{ssh.Password(string(s.cfg.Password.Value))}, nil
	}
	return nil, endpoint.Permanent(fmt.Errorf("sftp %s: no private_key or password", addr))
}
