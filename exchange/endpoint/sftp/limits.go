package sftp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
)

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
