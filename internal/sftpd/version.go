package sftpd

import (
	"encoding/binary"
	"io"
	"slices"
	"sync"
)

const (
	fxpVersion      = 2       // SSH_FXP_VERSION
	maxVersionBytes = 1 << 16 // a VERSION packet longer than this is passed on untouched
)

// versionFilter removes named extensions from the server's SSH_FXP_VERSION packet, the
// first packet the server writes. pkg/sftp keeps its advertised extensions in a package
// variable; filtering the wire lets servers in one process advertise different sets.
type versionFilter struct {
	io.ReadWriteCloser
	hide []string

	mu   sync.Mutex
	done bool
	buf  []byte
}

func newVersionFilter(rwc io.ReadWriteCloser, hide []string) io.ReadWriteCloser {
	if len(hide) == 0 {
		return rwc
	}
	return &versionFilter{ReadWriteCloser: rwc, hide: hide}
}

func (f *versionFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return f.ReadWriteCloser.Write(p)
	}
	f.buf = append(f.buf, p...)
	if len(f.buf) < 4 {
		return len(p), nil
	}
	n := int(binary.BigEndian.Uint32(f.buf))
	if n <= maxVersionBytes && len(f.buf) < 4+n {
		return len(p), nil
	}
	out := f.buf
	if n <= maxVersionBytes {
		out = append(filterVersion(f.buf[4:4+n], f.hide), f.buf[4+n:]...)
	}
	f.done, f.buf = true, nil
	if _, err := f.ReadWriteCloser.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// filterVersion returns the packet (length prefix included) for body, an SSH_FXP_VERSION
// body (type, version, extension pairs), without the extensions named in hide. Any other
// or malformed body is returned unchanged.
func filterVersion(body []byte, hide []string) []byte {
	if len(body) < 5 || body[0] != fxpVersion {
		return packetOf(body)
	}
	out := binary.BigEndian.AppendUint32(nil, 0) // length, set below
	out = append(out, body[:5]...)
	rest := body[5:]
	for len(rest) > 0 {
		name, r, ok := sshString(rest)
		if !ok {
			return packetOf(body)
		}
		data, r, ok := sshString(r)
		if !ok {
			return packetOf(body)
		}
		if !slices.Contains(hide, string(name)) {
			out = appendString(out, name)
			out = appendString(out, data)
		}
		rest = r
	}
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func packetOf(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func sshString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

func appendString(b, s []byte) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}
