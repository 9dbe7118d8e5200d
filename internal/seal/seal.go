package seal

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/minio/sio"
	"golang.org/x/crypto/hkdf"
)

// ErrAuth means that a sealed file failed authentication: sealed under
// another key, changed or truncated since it was written, or not sealed
// at all. None of its bytes can be trusted; the caller must not use any.
var ErrAuth = errors.New("seal: authentication failed")

// Magic begins every sealed file.
const Magic = "exchanged-seal/1\n"

// KeyPrefix begins every key line of a key file; base64 (standard, with
// padding) of 32 random bytes follows it.
const KeyPrefix = "EXCHANGED-STAGING-KEY-1:"

const (
	idSize     = 8
	saltSize   = 32
	headerSize = len(Magic) + idSize + saltSize
	// trailer follows the plaintext in the DARE stream (see doc.go).
	trailer = 0x01
	// cipherName goes into the derivation of the file key, so that a key
	// is never used with another cipher.
	cipherName = "DARE 2.0 AES-256-GCM"
)

// master is one key of a key file.
type master struct {
	secret [32]byte
	id     [idSize]byte
}

// Key seals and opens files. The first key of its key file seals; every
// one opens, so that a new key can be put first while files sealed under
// the old one are still delivered.
type Key struct {
	keys []master
}

// ParseKey reads a key file: one or more lines KeyPrefix + base64 of 32
// bytes, with # comments and blank lines. Its errors never hold the
// file's text.
func ParseKey(b []byte) (*Key, error) {
	var k Key
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var m master
		raw, err := base64.StdEncoding.Strict().DecodeString(strings.TrimPrefix(line, KeyPrefix))
		if !strings.HasPrefix(line, KeyPrefix) || err != nil || len(raw) != len(m.secret) {
			return nil, fmt.Errorf("line %d is not a staging key (%s and base64 of 32 random bytes)", n, KeyPrefix)
		}
		copy(m.secret[:], raw)
		sum := sha256.Sum256(m.secret[:])
		copy(m.id[:], sum[:])
		k.keys = append(k.keys, m)
	}
	if sc.Err() != nil {
		return nil, errors.New("not a staging key file (a line is too long)")
	}
	if len(k.keys) == 0 {
		return nil, fmt.Errorf("no staging key (a line %s and base64 of 32 random bytes)", KeyPrefix)
	}
	return &k, nil
}

// ID names the key that seals, in hex: the first bytes of its SHA-256,
// as every sealed file's header holds it. Safe to log.
func (k *Key) ID() string { return hex.EncodeToString(k.keys[0].id[:]) }

// Has reports whether k opens files sealed under the key of id (hex, as
// ID and HeaderKeyID give it).
func (k *Key) Has(id string) bool {
	for i := range k.keys {
		if hex.EncodeToString(k.keys[i].id[:]) == id {
			return true
		}
	}
	return false
}

// HeaderKeyID returns the key id (hex) in the header of the sealed file
// f, read from its header alone: nothing is decrypted or authenticated.
// A file whose header does not hold a whole key id after the magic
// (plaintext, one sealed with age by an earlier build, one being written
// now) has none: ok is false.
func HeaderKeyID(f io.ReaderAt) (id string, ok bool, err error) {
	b, err := head(f, len(Magic)+idSize)
	if err != nil || len(b) < len(Magic)+idSize || !bytes.HasPrefix(b, []byte(Magic)) {
		return "", false, err
	}
	return hex.EncodeToString(b[len(Magic):]), true, nil
}

// config returns the DARE configuration of a file sealed under m with
// salt: version 2.0, AES-256-GCM only, under the file's own key.
func (m *master) config(salt []byte) (sio.Config, error) {
	info := make([]byte, 0, len(Magic)+idSize+len(cipherName))
	info = append(append(append(info, Magic...), m.id[:]...), cipherName...)
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, m.secret[:], salt, info), key); err != nil {
		return sio.Config{}, fmt.Errorf("seal: derive key: %w", err)
	}
	return sio.Config{
		MinVersion:   sio.Version20,
		MaxVersion:   sio.Version20,
		CipherSuites: []byte{sio.AES_256_GCM},
		Key:          key,
	}, nil
}

// Seal returns a writer that seals what is written to it into dst. The
// header is written to dst at once; Close writes the last package, and
// dst holds a whole sealed file only after it. Close does not close dst.
//
// Once more than a chunk (chunkSize) was written, sealing and writing to
// dst run on a goroutine of their own, a few chunks behind the caller, so
// that the encryption overlaps the caller's work (reading the source,
// hashing the plaintext). A failure to write to dst is then returned by a
// later Write or by Close. Close, or Abort, ends that goroutine: a writer
// given up on must be aborted.
func (k *Key) Seal(dst io.Writer) (*Writer, error) { return k.SealHashed(dst, nil) }

// SealHashed is Seal, and writes the plaintext to h too, in order, chunk
// by chunk on a goroutine of its own between the caller and the sealing
// goroutine (for a hash of the plaintext that costs the caller nothing;
// h's Write must not fail, as a hash.Hash's does not).
// Once Close returned nil, h has had every byte written; after a failure
// or Abort it may have had a part.
func (k *Key) SealHashed(dst io.Writer, h io.Writer) (*Writer, error) {
	m := &k.keys[0]
	hdr := make([]byte, 0, headerSize)
	hdr = append(append(hdr, Magic...), m.id[:]...)
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	cfg, err := m.config(salt)
	if err != nil {
		return nil, err
	}
	w, err := sio.EncryptWriter(writerOnly{dst}, cfg)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if _, err := dst.Write(append(hdr, salt...)); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Writer{enc: w, h: h, stop: make(chan struct{})}, nil
}

// writerOnly hides dst's Close from sio, which closes a writer that has
// one.
type writerOnly struct{ io.Writer }

// chunkSize is how much plaintext goes to the sealing goroutine at a time,
// and how much the Reader decrypts ahead at a time: whole packages.
// chunksAhead chunks at most are in flight (per Writer, per Reader).
const (
	chunkSize   = 4 * payloadSize
	chunksAhead = 4
)

// ErrAborted is what a Writer returns once Abort was called.
var ErrAborted = errors.New("seal: aborted")

// Writer seals into its destination; see Key.Seal. Write and Close are
// called from one goroutine; Abort may be called from any, at any time.
type Writer struct {
	enc    io.WriteCloser // sio's, onto dst
	h      io.Writer      // gets the plaintext (SealHashed); nil: none
	buf    []byte         // being filled by Write: at most chunkSize
	bufs   int            // chunk buffers made
	closed bool

	// Set once the sealing goroutine runs: it takes chunks from sealq,
	// gives them back on free, and closes done when it returns, with err
	// set. It seals the trailer and closes enc when sealq is closed
	// (Close). Without h, sealq is work; with h, a hashing goroutine takes
	// the chunks from work, writes them to h and passes them on to sealq,
	// which it closes once work is closed, and closes hdone when it
	// returns.
	work  chan []byte
	sealq chan []byte
	free  chan []byte
	done  chan struct{}
	hdone chan struct{}
	err   error
	stop  chan struct{} // closed by Abort
	abort sync.Once
}

func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("seal: write after close")
	}
	if err := w.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, min(chunkSize, max(len(p), 4<<10)))
		}
		if len(w.buf) == chunkSize {
			if err := w.send(); err != nil {
				return n, err
			}
			continue
		}
		if len(w.buf) == cap(w.buf) { // a small first buffer, outgrown
			w.buf = append(make([]byte, 0, chunkSize), w.buf...)
		}
		c := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf, p, n = w.buf[:len(w.buf)+c], p[c:], n+c
	}
	return n, nil
}

// ReadFrom seals what it reads from r until io.EOF, reading into the
// chunks it seals (no copy, and reads of a chunk at a time where r gives
// them). A failure to read is returned as it came.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.closed {
		return 0, errors.New("seal: write after close")
	}
	var n int64
	for {
		if err := w.failed(); err != nil {
			return n, err
		}
		switch {
		case w.buf == nil:
			w.buf = make([]byte, 0, payloadSize) // one package: a small file stays small
		case len(w.buf) == chunkSize:
			if err := w.send(); err != nil {
				return n, err
			}
			continue
		case len(w.buf) == cap(w.buf): // a small first buffer, outgrown
			w.buf = append(make([]byte, 0, chunkSize), w.buf...)
		}
		m, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf, n = w.buf[:len(w.buf)+m], n+int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// failed returns the sealing goroutine's error once it stopped, or
// ErrAborted after Abort.
func (w *Writer) failed() error {
	select {
	case <-w.stop:
		return ErrAborted
	default:
	}
	if w.done == nil {
		return nil
	}
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// send hands the buffer to the sealing goroutine, started on the first
// call, and takes another: a new one while fewer than chunksAhead were
// made, else one the goroutine is done with.
func (w *Writer) send() error {
	if w.done == nil {
		w.start()
	}
	select {
	case w.work <- w.buf:
	case <-w.done:
		return w.err
	}
	w.buf = nil
	if w.bufs < chunksAhead {
		w.bufs++
		w.buf = make([]byte, 0, chunkSize)
		return nil
	}
	select {
	case b := <-w.free:
		w.buf = b[:0]
		return nil
	case <-w.done:
		return w.err
	}
}

// start starts the sealing goroutine, and the hashing one if h is set.
func (w *Writer) start() {
	w.work = make(chan []byte, chunksAhead)
	w.sealq = w.work
	w.free = make(chan []byte, chunksAhead+1) // every buffer: the first one too
	w.done = make(chan struct{})
	if w.h != nil {
		w.sealq = make(chan []byte, 1)
		w.hdone = make(chan struct{})
		go w.hash()
	}
	go w.seal()
}

// hash is the hashing goroutine: it passes every chunk from work on to
// sealq once written to h, and closes sealq after the last, so that the
// sealing goroutine ends only after h had every byte. Stopped (Abort), or
// once the sealing goroutine failed, it returns without closing sealq:
// nothing is sealed as if the plaintext had ended there.
func (w *Writer) hash() {
	defer close(w.hdone)
	for {
		select {
		case b, ok := <-w.work:
			if !ok {
				close(w.sealq)
				return
			}
			w.h.Write(b) // a hash (SealHashed), whose Write never fails
			select {
			case w.sealq <- b:
			case <-w.done:
				return
			case <-w.stop:
				return
			}
		case <-w.done:
			return
		case <-w.stop:
			return
		}
	}
}

// seal is the sealing goroutine.
func (w *Writer) seal() {
	defer close(w.done)
	for {
		select {
		case b, ok := <-w.sealq:
			if !ok {
				if _, err := w.enc.Write([]byte{trailer}); err != nil {
					w.err = err
					return
				}
				w.err = w.enc.Close()
				return
			}
			if _, err := w.enc.Write(b); err != nil {
				w.err = err
				return
			}
			w.free <- b // never blocks: it has room for every buffer
		case <-w.stop:
			w.err = ErrAborted
			return
		}
	}
}

// Close seals what is left and the trailer, and writes them to dst. It
// returns the first error that writing to dst met, if any.
func (w *Writer) Close() error {
	if w.closed {
		return errors.New("seal: already closed")
	}
	w.closed = true
	if err := w.failed(); err != nil {
		return err
	}
	if w.done == nil {
		// Never more than a chunk: sealed here, with no goroutine.
		if w.h != nil {
			w.h.Write(w.buf)
		}
		if _, err := w.enc.Write(append(w.buf, trailer)); err != nil {
			return err
		}
		return w.enc.Close()
	}
	if len(w.buf) > 0 {
		select {
		case w.work <- w.buf:
		case <-w.done:
			return w.wait()
		}
	}
	close(w.work) // the sealing goroutine seals the trailer after the rest
	return w.wait()
}

// wait waits for the goroutines to return and returns the sealing one's
// error.
func (w *Writer) wait() error {
	<-w.done
	if w.hdone != nil {
		<-w.hdone
	}
	return w.err
}

// Abort stops the sealing goroutine (and the hashing one), if any, without
// waiting for it: what dst holds is then no whole sealed file. Write,
// ReadFrom and Close return ErrAborted after it. It may be called more
// than once, and while Write or ReadFrom runs on another goroutine.
func (w *Writer) Abort() { w.abort.Do(func() { close(w.stop) }) }

// ageMagic began the files of a development build that sealed with age.
// Such a file counts as sealed, so that it is never sealed again as if
// it were plaintext (and its ciphertext delivered); Open refuses it.
const ageMagic = "age-encryption.org/v1\n"

// IsSealed reports whether the file f begins as a sealed file does. A
// file that does not is none of ours (one staged by a version before
// staging was sealed). One that does is only known to be whole and ours
// once Open accepted it and every byte was read.
func IsSealed(f io.ReaderAt) (bool, error) {
	b, err := head(f, len(ageMagic))
	return bytes.HasPrefix(b, []byte(Magic)) || bytes.Equal(b, []byte(ageMagic)), err
}

// head returns the first n bytes of f, or all of a shorter f.
func head(f io.ReaderAt, n int) ([]byte, error) {
	b := make([]byte, n)
	n, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return b[:n], nil
}

// IsPlain reports whether the file f holds bytes and does not begin as
// a sealed file does, nor with the first bytes of a sealed header: a file
// that holds those (or nothing) may be one that Seal is writing right
// now, which writes its header first. A file IsPlain reports is one a
// version before sealing left, in plaintext.
func IsPlain(f io.ReaderAt) (bool, error) {
	b, err := head(f, len(ageMagic))
	if err != nil || len(b) == 0 {
		return false, err
	}
	// b begins with a magic, or is the start of one.
	starts := func(m string) bool { return bytes.HasPrefix(b, []byte(m)) || bytes.HasPrefix([]byte(m), b) }
	return !starts(Magic) && !starts(ageMagic), nil
}

// NewKey returns a new key, kept nowhere: for tests and benchmarks.
func NewKey() (*Key, error) {
	b, err := GenerateFile()
	if err != nil {
		return nil, err
	}
	return ParseKey(b)
}

// GenerateFile returns a new key as the text of a key file.
func GenerateFile() ([]byte, error) {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("seal: generate key: %w", err)
	}
	sum := sha256.Sum256(secret[:])
	return []byte(fmt.Sprintf("# exchanged staging key, created %s\n# key id: %x\n%s%s\n",
		time.Now().UTC().Format(time.RFC3339), sum[:idSize], KeyPrefix,
		base64.StdEncoding.EncodeToString(secret[:]))), nil
}
