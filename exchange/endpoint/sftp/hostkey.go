package sftp

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
)

// hostKeyError is a refused host key: which sentinel, and what the server
// presented (public facts, safe to log): the fingerprints of the keys it
// showed, or, when it would show none of the types we asked for, the host
// key algorithms it offers.
type hostKeyError struct {
	sentinel  error
	addr      string
	keyType   string   // of the last key presented
	presented []string // fingerprints, one per key presented
	offered   []string // when no key was presented: the server's host key algorithms
	asked     []string // the host key algorithms we asked for, when not the default
}

func (e *hostKeyError) Error() string {
	if len(e.presented) == 0 {
		return fmt.Sprintf("%v: %s has no host key of the types known for it (%s); it offers %s",
			e.sentinel, e.addr, strings.Join(e.asked, ", "), strings.Join(e.offered, ", "))
	}
	return fmt.Sprintf("%v: %s presented %s", e.sentinel, e.addr, strings.Join(e.presented, ", "))
}
func (e *hostKeyError) Unwrap() error { return e.sentinel }

// outcome is the log's word for the refusal.
func (e *hostKeyError) outcome() string {
	switch {
	case errors.Is(e.sentinel, endpoint.ErrHostKeyRevoked):
		return "revoked"
	case errors.Is(e.sentinel, endpoint.ErrHostKeyUnknown):
		return "unknown"
	}
	return "mismatch"
}

// hostKeyPolicy is how a dial verifies the server.
type hostKeyPolicy struct {
	// verify checks the key the server presents. A refusal is a
	// *hostKeyError, not yet logged: the dial logs the one it gives up on.
	verify ssh.HostKeyCallback
	// algos are the host key algorithms to ask for, so that the server
	// presents a key of a type we can verify; nil: x/crypto's default.
	algos []string
	// search is set for a pinned fingerprint without a key type: on a
	// mismatch, the dial asks for each other type in turn (searchTypes).
	search bool
}

// hostKeyPolicy verifies the server against the pinned host_key or the
// known_hosts file. A pin with a key type asks only for that type; a bare
// fingerprint asks for the default first, then searches. known_hosts asks
// for the types it holds for the host.
func (s *SFTP) hostKeyPolicy() (hostKeyPolicy, error) {
	addr := s.cfg.Address()
	if s.cfg.HostKey != "" {
		pin, err := config.ParseHostKey(s.cfg.HostKey)
		if err != nil {
			return hostKeyPolicy{}, endpoint.Permanent(fmt.Errorf("sftp %s: host_key: %v", addr, err))
		}
		verify := func(_ string, _ net.Addr, key ssh.PublicKey) error {
			fp := ssh.FingerprintSHA256(key)
			if fp == pin.Fingerprint && (pin.Type == "" || key.Type() == pin.Type) {
				return nil
			}
			return &hostKeyError{sentinel: endpoint.ErrHostKeyChanged, addr: addr, keyType: key.Type(), presented: []string{fp}}
		}
		if pin.Type == "" {
			return hostKeyPolicy{verify: verify, search: true}, nil
		}
		return hostKeyPolicy{verify: verify, algos: algorithmsFor(pin.Type)}, nil
	}
	if s.cfg.KnownHosts == "" {
		return hostKeyPolicy{}, endpoint.Permanent(fmt.Errorf("sftp %s: no known_hosts or host_key: refusing to trust an unknown server", addr))
	}
	cb, err := knownhosts.New(s.cfg.KnownHosts)
	if err != nil {
		return hostKeyPolicy{}, endpoint.Permanent(fmt.Errorf("sftp %s: known_hosts: %w", addr, err))
	}
	verify := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		refuse := func(sentinel error) error {
			return &hostKeyError{sentinel: sentinel, addr: addr, keyType: key.Type(),
				presented: []string{ssh.FingerprintSHA256(key)}}
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			return refuse(endpoint.ErrHostKeyRevoked)
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return refuse(endpoint.ErrHostKeyUnknown)
		case errors.As(err, &ke):
			return refuse(endpoint.ErrHostKeyChanged)
		}
		return err
	}
	return hostKeyPolicy{verify: verify, algos: knownAlgorithms(cb, addr)}, nil
}

// logRefused logs a refused host key as a security event.
func (s *SFTP) logRefused(e *hostKeyError) {
	fields := []zap.Field{
		zap.Bool("security", true),
		zap.String("partner", s.partner),
		zap.String("endpoint", s.String()),
		zap.String("outcome", e.outcome()),
		zap.String("error", e.Error()),
	}
	if len(e.presented) > 0 {
		fields = append(fields, zap.String("presented", strings.Join(e.presented, ", ")))
	} else {
		fields = append(fields, zap.Strings("offered", e.offered))
	}
	s.log.Error("host key refused", fields...)
}

// searchTypes are the key types a search for a bare pinned fingerprint
// asks for, one per dial, in this order.
var searchTypes = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoRSA,
	ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521}

// nextSearch returns the host key algorithms of the first key type in
// searchTypes not tried yet and, once the server said which it has
// (offered, nil until then), one it has; nil when none is left.
func nextSearch(tried map[string]bool, offered []string) []string {
	for _, t := range searchTypes {
		if tried[t] {
			continue
		}
		algos := algorithmsFor(t)
		if offered == nil || slices.ContainsFunc(algos, func(a string) bool { return slices.Contains(offered, a) }) {
			return algos
		}
	}
	return nil
}

// algorithmsFor returns the host key algorithms that make a server
// present its key of type keyType.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
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
	for _, k := range ke.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}
