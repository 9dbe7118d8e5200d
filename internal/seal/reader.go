package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/minio/sio"
)

// DARE 2.0 packages: a 16-byte header, up to 64 KiB of payload and a
// 16-byte tag; every package but the last holds a full payload.
const (
	payloadSize = 64 << 10
	packageSize = 16 + payloadSize + 16
)

// Reader reads the plaintext of a sealed file. Every byte it returns
// belongs to a package that was authenticated, and the last package was
// authenticated when it was opened, so that a truncated file is found
// then; a package that fails is an error wrapping ErrAuth, returned again
// by every later Read. It reads from an offset (Seek), so a reader may
// go over the file more than once.
//
// Reading on from where the last Read ended, a goroutine of its own reads
// and decrypts a few chunks ahead of the caller (see ahead), so that the
// decryption overlaps what the caller does with the plaintext (writing it
// out, sending it); a Seek elsewhere stops it, Close ends it.
type Reader struct {
	f    *os.File
	src  *tracked
	body *io.SectionReader // the DARE stream
	cfg  sio.Config
	size int64 // of the plaintext
	off  int64
	ah   *ahead // decrypts from decOff; nil when none runs
	// decOff is where ah is in the plaintext: the offset of pending.
	decOff  int64
	pending []byte // decrypted by ah, not yet read: a suffix of cur
	cur     []byte // the chunk pending is in, given back to ah when read
	tail    error  // ah's error after pending: r.err once pending is read
	seen    int64  // every byte before seen was read and authenticated
	err     error
	closing chan struct{} // closed by Close
	close   sync.Once
}

// Open opens the sealed file f, which the Reader then owns (Close closes
// it). A file that is not sealed, is sealed under another key, or whose
// last package fails authentication is refused with an error wrapping
// ErrAuth; f is then left open for the caller.
func (k *Key) Open(f *os.File) (*Reader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	src := &tracked{r: f}
	hdr := make([]byte, headerSize)
	if n, err := src.ReadAt(hdr, 0); n < len(hdr) {
		if err != io.EOF {
			return nil, fmt.Errorf("seal: read: %w", err)
		}
		hdr = hdr[:n]
	}
	if bytes.HasPrefix(hdr, []byte(ageMagic)) {
		return nil, fmt.Errorf("%w: sealed with age by an earlier build, which this one does not read", ErrAuth)
	}
	if !bytes.HasPrefix(hdr, []byte(Magic)) || len(hdr) < headerSize {
		return nil, fmt.Errorf("%w: not sealed (no %q header)", ErrAuth, Magic[:len(Magic)-1])
	}
	id, salt := hdr[len(Magic):len(Magic)+idSize], hdr[len(Magic)+idSize:]
	var m *master
	for i := range k.keys {
		if bytes.Equal(k.keys[i].id[:], id) {
			m = &k.keys[i]
			break
		}
	}
	if m == nil {
		return nil, fmt.Errorf("%w: sealed under another key", ErrAuth)
	}
	cfg, err := m.config(salt)
	if err != nil {
		return nil, err
	}
	body := io.NewSectionReader(src, int64(headerSize), fi.Size()-int64(headerSize))
	n, err := sio.DecryptedSize(uint64(body.Size()))
	if err != nil || n == 0 {
		return nil, fmt.Errorf("%w: truncated or extended (%d bytes is no whole sealed stream)", ErrAuth, body.Size())
	}
	r := &Reader{f: f, src: src, body: body, cfg: cfg, size: int64(n) - 1, closing: make(chan struct{})}
	// Authenticate the last package, which DARE marks final: its
	// plaintext ends in the trailer.
	dec, err := r.decrypter((int64(n) - 1) / payloadSize * payloadSize)
	if err != nil {
		return nil, err
	}
	last, err := io.ReadAll(dec)
	if err != nil {
		return nil, r.src.classify(err, "the last chunk")
	}
	if len(last) == 0 || last[len(last)-1] != trailer {
		return nil, fmt.Errorf("%w: no trailer", ErrAuth)
	}
	return r, nil
}

// decrypter returns a reader of the stream's plaintext from off: from the
// start of off's package (DARE's sequence number tells the package), the
// bytes before off in it decrypted, authenticated and discarded.
func (r *Reader) decrypter(off int64) (io.Reader, error) {
	pkg := off / payloadSize
	cfg := r.cfg
	cfg.SequenceNumber = uint32(pkg)
	dec, err := sio.DecryptReader(io.NewSectionReader(r.body, pkg*packageSize, r.body.Size()-pkg*packageSize), cfg)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if skip := off - pkg*payloadSize; skip > 0 {
		if _, err := io.CopyN(io.Discard, dec, skip); err != nil {
			return nil, r.src.classify(err, fmt.Sprintf("the chunk at offset %d", pkg*payloadSize))
		}
	}
	return dec, nil
}

// ahead is a goroutine that decrypts the plaintext from an offset to its
// end, chunkSize at a time, into at most chunksAhead buffers: each chunk
// holds only bytes of packages that passed authentication, and the one
// where a package failed (or the file could not be read) carries the
// error, after the bytes before it. It closes chunks when it returns:
// after the chunk that reaches the end, one with an error, or once
// stopped (stop, or the Reader's Close).
type ahead struct {
	chunks chan chunk
	free   chan []byte
	stop   chan struct{}
}

// chunk is what ahead decrypted: b, then err if not nil.
type chunk struct {
	b   []byte
	err error
}

// startAhead starts decrypting from off.
func (r *Reader) startAhead(off int64) {
	a := &ahead{chunks: make(chan chunk, chunksAhead-1), free: make(chan []byte, chunksAhead), stop: make(chan struct{})}
	for range chunksAhead {
		a.free <- nil
	}
	r.ah, r.decOff, r.pending, r.cur, r.tail = a, off, nil, nil, nil
	go r.decryptAhead(a, off)
}

// stopAhead stops the goroutine, if one runs, and waits for it to return.
func (r *Reader) stopAhead() {
	if r.ah == nil {
		return
	}
	close(r.ah.stop)
	for range r.ah.chunks {
	}
	r.ah, r.pending, r.cur = nil, nil, nil
}

// decryptAhead is ahead's goroutine.
func (r *Reader) decryptAhead(a *ahead, off int64) {
	defer close(a.chunks)
	send := func(c chunk) bool {
		select {
		case a.chunks <- c:
			return true
		case <-a.stop:
		case <-r.closing:
		}
		return false
	}
	dec, err := r.decrypter(off)
	if err != nil {
		send(chunk{err: err})
		return
	}
	for off < r.size {
		var b []byte
		select {
		case b = <-a.free:
		case <-a.stop:
			return
		case <-r.closing:
			return
		}
		// Up to a chunk boundary of the plaintext, so that a chunk
		// after the first is whole packages, decrypted in place.
		want := min(chunkSize-off%chunkSize, r.size-off)
		if int64(cap(b)) < want {
			b = make([]byte, min(chunkSize, r.size-off))
		}
		n, err := io.ReadFull(dec, b[:want])
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = io.ErrUnexpectedEOF // the trailer is still to come
			}
			// The n bytes before the failure were authenticated.
			send(chunk{b: b[:n], err: r.src.classify(err, fmt.Sprintf("the chunk at or after offset %d", off+int64(n)))})
			return
		}
		if !send(chunk{b: b[:n]}) {
			return
		}
		off += int64(n)
	}
}

// Size returns the size of the plaintext.
func (r *Reader) Size() int64 { return r.size }

// Verified reports whether every byte of the file was read, and so
// authenticated, through r.
func (r *Reader) Verified() bool { return r.seen == r.size }

// Verify reads the whole file unless Verified, so that a package failing
// authentication is found before any byte is used, and returns to the
// start. It returns nil only if every package passed.
func (r *Reader) Verify() error {
	if !r.Verified() {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
	_, err := r.Seek(0, io.SeekStart)
	return err
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.ah == nil || r.decOff != r.off {
		r.stopAhead()
		r.startAhead(r.off)
	}
	if len(r.pending) == 0 && r.tail != nil {
		r.err = r.tail
		return 0, r.err
	}
	if len(r.pending) == 0 {
		if r.cur != nil {
			r.ah.free <- r.cur // never blocks: it has room for every buffer
			r.cur = nil
		}
		c, ok := <-r.ah.chunks
		if !ok { // closed under the read
			r.err = fmt.Errorf("seal: read: %w", os.ErrClosed)
			return 0, r.err
		}
		r.pending, r.cur, r.tail = c.b, c.b, c.err
		if len(r.pending) == 0 && r.tail != nil {
			r.err = r.tail
			return 0, r.err
		}
		// Bytes before a failure were authenticated: they are returned,
		// and the error from the Read after them on.
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	if r.off <= r.seen {
		r.seen = max(r.seen, r.off+int64(n))
	}
	r.off += int64(n)
	r.decOff = r.off
	return n, nil
}

// Seek sets the offset of the next Read, in the plaintext.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("seal: seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seal: seek: negative offset")
	}
	r.off = offset
	return offset, nil
}

// Close closes the file and stops the goroutine reading ahead. It may be
// called while a Read runs on another goroutine, to cut it short: that
// Read, and every later one, returns an error.
func (r *Reader) Close() error {
	r.close.Do(func() { close(r.closing) })
	return r.f.Close()
}

// tracked is the sealed file as sio reads it, keeping the first error
// the file itself returned, so that a failure to read (a closed file, a
// disk error) is told from a failure to authenticate.
type tracked struct {
	r   io.ReaderAt
	err error
}

func (t *tracked) ReadAt(p []byte, off int64) (int, error) {
	n, err := t.r.ReadAt(p, off)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// classify returns err, from sio, as a read error if the file failed to
// be read, else as a failure to authenticate (wrapping ErrAuth) of what
// (a chunk: a DARE package of 64 KiB of plaintext).
func (t *tracked) classify(err error, what string) error {
	if t.err != nil {
		return fmt.Errorf("seal: read: %w", t.err)
	}
	return fmt.Errorf("%w: %s: %v", ErrAuth, what, err)
}
