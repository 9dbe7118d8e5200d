package sftpd

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// handshakeTimeout bounds how long one connection may take to authenticate.
const handshakeTimeout = 10 * time.Second

// maxAcceptErrors bounds the run of consecutive transient Accept errors before the server
// stops accepting.
const maxAcceptErrors = 100

// Options configures a Server. Root and User are required, and at least one of
// AuthorizedKeys and Password.
type Options struct {
	// Root is the directory served; clients see it as "/". Paths are cleaned and confined to
	// Root: ".." cannot escape it, and symlinks leading outside it are refused. Symlinks
	// inside Root are reported as symlinks by Lstat and List, and open does not follow them.
	Root string
	// Addr is the loopback address to listen on; default "127.0.0.1:0". A non-loopback
	// address is refused.
	Addr string
	// HostKey is the server's host key; nil generates an ed25519 key.
	HostKey ssh.Signer
	// User is the only user name accepted.
	User string
	// AuthorizedKeys are the public keys accepted for User.
	AuthorizedKeys []ssh.PublicKey
	// Password is accepted for User; "" disables password authentication.
	Password string
	// NoPosixRename hides posix-rename@openssh.com and refuses it, to test a client's
	// fallback.
	NoPosixRename bool
	// ReadOnly refuses every request that would change Root.
	ReadOnly bool
	// ServerVersion is the SSH identification string sent to clients; default
	// "SSH-2.0-exchanged_sftpd". Another one makes a client that knows servers by it take
	// this one for a stranger.
	ServerVersion string
	// NoReadlink refuses READLINK as permission denied, as ProFTPD does under
	// <Limit READLINK> DenyAll.
	NoReadlink bool
	// NoHardlink hides hardlink@openssh.com and refuses it, as servers
	// other than OpenSSH may.
	NoHardlink bool
	// Deny refuses the named kinds of request with SSH_FX_PERMISSION_DENIED,
	// as a partner's upload-only folder does: "stat" (stat and lstat),
	// "list", "read", "rename" (rename and posix-rename), "link" (hardlink)
	// and "remove". A write-only drop folder denies all of them: only
	// opening a new file and writing it are left.
	Deny []string
	// ExistsStatus answers an exclusive create, rename or link over an
	// existing name with SSH_FX_FILE_ALREADY_EXISTS (11), as ProFTPD does,
	// rather than OpenSSH's generic failure.
	ExistsStatus bool
	// RenameReplaces makes a plain rename replace an existing target, as
	// SFTPGo does for users with the overwrite permission.
	RenameReplaces bool
}

// WriteOnly is the Deny list of a write-only drop folder.
var WriteOnly = []string{"stat", "list", "read", "rename", "link", "remove"}

// Server is a running SFTP server. Its methods are safe for concurrent use.
type Server struct {
	ln       net.Listener
	hostKey  ssh.Signer
	config   *ssh.ServerConfig
	handlers sftp.Handlers
	hide     []string // extensions removed from the SSH_FXP_VERSION packet
	root     *os.Root

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start validates opts, opens Root, listens on Addr and serves until Close. On error nothing
// is left running.
func Start(opts Options) (*Server, error) {
	if opts.Root == "" {
		return nil, errors.New("sftpd: Root is required")
	}
	if opts.User == "" {
		return nil, errors.New("sftpd: User is required")
	}
	if len(opts.AuthorizedKeys) == 0 && opts.Password == "" {
		return nil, errors.New("sftpd: no authentication method: set AuthorizedKeys or Password")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if err := checkLoopback(opts.Addr); err != nil {
		return nil, err
	}
	hostKey := opts.HostKey
	if hostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("sftpd: generate host key: %w", err)
		}
		if hostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("sftpd: host key signer: %w", err)
		}
	}

	root, err := os.OpenRoot(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("sftpd: open root: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("sftpd: listen: %w", err)
	}

	h := &handler{root: root, readOnly: opts.ReadOnly, noPosixRename: opts.NoPosixRename,
		noReadlink: opts.NoReadlink, noHardlink: opts.NoHardlink, deny: opts.Deny, existsStatus: opts.ExistsStatus,
		renameReplaces: opts.RenameReplaces}
	s := &Server{
		ln:       ln,
		hostKey:  hostKey,
		config:   serverConfig(opts, hostKey),
		handlers: sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h},
		hide:     []string{"statvfs@openssh.com"}, // not implemented here
		root:     root,
		conns:    make(map[net.Conn]struct{}),
	}
	if opts.NoPosixRename {
		s.hide = append(s.hide, "posix-rename@openssh.com")
	}
	if opts.NoHardlink {
		s.hide = append(s.hide, "hardlink@openssh.com")
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sftpd: address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("sftpd: address %q is not a loopback address", addr)
	}
	return nil
}

func serverConfig(opts Options, hostKey ssh.Signer) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{ServerVersion: cmp.Or(opts.ServerVersion, "SSH-2.0-exchanged_sftpd")}
	if len(opts.AuthorizedKeys) > 0 {
		authorized := make([][]byte, len(opts.AuthorizedKeys))
		for i, k := range opts.AuthorizedKeys {
			authorized[i] = k.Marshal()
		}
		cfg.PublicKeyCallback = func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == opts.User {
				wire := key.Marshal()
				for _, a := range authorized {
					if bytes.Equal(a, wire) {
						return &ssh.Permissions{}, nil
					}
				}
			}
			return nil, errors.New("sftpd: public key refused")
		}
	}
	if opts.Password != "" {
		want := []byte(opts.Password)
		cfg.PasswordCallback = func(c ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
			userOK := subtle.ConstantTimeCompare([]byte(c.User()), []byte(opts.User)) == 1
			passOK := subtle.ConstantTimeCompare(password, want) == 1
			if userOK && passOK {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("sftpd: password refused")
		}
	}
	cfg.AddHostKey(hostKey)
	return cfg
}

// Addr returns the address the server listens on, as host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HostKey returns the server's public host key, for clients to pin.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// Fingerprint returns the host key's fingerprint in the "SHA256:..." form.
func (s *Server) Fingerprint() string { return ssh.FingerprintSHA256(s.hostKey.PublicKey()) }

// DropConnections cuts every live connection at the TCP level, as a network failure would.
// The server keeps accepting new connections.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Close stops the listener, cuts every connection and waits for every goroutine of the
// server to return. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if rerr := s.root.Close(); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("sftpd: close: %w", err)
	}
	return nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	failures := 0
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || failures >= maxAcceptErrors {
				return
			}
			failures++
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: give the system a moment
			continue
		}
		failures = 0
		if !s.track(c) {
			c.Close()
			return
		}
		go s.serveConn(c)
	}
}

// track registers c and counts its goroutine; it reports false once the server is closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// serveConn runs the SSH handshake and the connection's channels. It returns when the
// connection ends, after every goroutine it started has returned.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer s.untrack(c)

	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer sconn.Close()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveSession(ch, creqs)
		}()
	}
}

// serveSession answers a session's requests; a "subsystem sftp" request starts the SFTP
// server on the channel. Every other request is refused.
func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ch.Close()
	started := false
	for req := range reqs {
		ok := false
		if req.Type == "subsystem" && !started {
			var sub struct{ Name string }
			ok = ssh.Unmarshal(req.Payload, &sub) == nil && sub.Name == "sftp"
		}
		_ = req.Reply(ok, nil)
		if ok {
			started = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serveSFTP(ch)
			}()
		}
	}
}

func (s *Server) serveSFTP(ch ssh.Channel) {
	rs := sftp.NewRequestServer(newVersionFilter(ch, s.hide), s.handlers)
	err := rs.Serve()
	rs.Close()
	status := uint32(0)
	if err != nil && !errors.Is(err, io.EOF) {
		status = 1
	}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
	ch.Close()
}
