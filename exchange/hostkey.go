package exchange

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"

	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyError is a refused host key: which sentinel, and the fingerprint
// the server presented (a public fact, safe to log).
type hostKeyError struct {
	sentinel  error
	addr      string
	presented string
}

func (e *hostKeyError) Error() string {
	return fmt.Sprintf("%v: %s presented %s", e.sentinel, e.addr, e.presented)
}
func (e *hostKeyError) Unwrap() error { return e.sentinel }

// hostKeyCallback verifies the server against a pinned SHA256 fingerprint
// or a known_hosts file. A refusal is logged as a security event. It also
// returns the host key algorithms known_hosts holds for the host, so that
// the server is asked for a key type we can verify.
func (s *SFTP) hostKeyCallback() (ssh.HostKeyCallback, []string, error) {
	addr := s.cfg.Address()
	refuse := func(sentinel error, key ssh.PublicKey) error {
		e := &hostKeyError{sentinel: sentinel, addr: addr, presented: ssh.FingerprintSHA256(key)}
		s.log.Error("host key refused",
			zap.Bool("security", true),
			zap.String("partner", s.partner),
			zap.String("endpoint", s.String()),
			zap.String("outcome", map[error]string{ErrHostKeyUnknown: "unknown", ErrHostKeyChanged: "mismatch"}[sentinel]),
			zap.String("presented", e.presented),
			zap.String("error", e.Error()))
		return e
	}
	if pin := s.cfg.HostKey; pin != "" {
		return func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if ssh.FingerprintSHA256(key) != pin {
				return refuse(ErrHostKeyChanged, key)
			}
			return nil
		}, nil, nil
	}
	if s.cfg.KnownHosts == "" {
		return nil, nil, Permanent(fmt.Errorf("sftp %s: no known_hosts or host_key: refusing to trust an unknown server", addr))
	}
	cb, err := knownhosts.New(s.cfg.KnownHosts)
	if err != nil {
		return nil, nil, Permanent(fmt.Errorf("sftp %s: known_hosts: %w", addr, err))
	}
	verify := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			if len(ke.Want) == 0 {
				return refuse(ErrHostKeyUnknown, key)
			}
			return refuse(ErrHostKeyChanged, key)
		}
		return err
	}
	return verify, knownAlgorithms(cb, addr), nil
}

// knownAlgorithms asks the known_hosts callback which keys it holds for
// addr, by offering a key it cannot hold, and returns their algorithms.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string) []string {
	probe, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		return nil
	}
	tcp, _ := net.ResolveTCPAddr("tcp", addr)
	var ke *knownhosts.KeyError
	if !errors.As(cb(addr, tcp, probe), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}
