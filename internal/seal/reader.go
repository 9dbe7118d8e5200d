package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

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
type Reader struct {
	f    *os.File
	src  *tracked
	body *io.SectionReader // the DARE stream
	cfg  sio.Config
	size int64 // of the plaintext
	off  int64
	dec  io.Reader // decrypts from decOff
	// decOff is where dec is in the plaintext.
	decOff int64
	seen   int64 // every byte before seen was read and authenticated
	err    error
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
	r := &Reader{f: f, src: src, body: body, cfg: cfg, size: int64(n) - 1}
	// Authenticate the last package, which DARE marks final: its
	// plaintext ends in the trailer.
	if err := r.position((int64(n) - 1) / payloadSize * payloadSize); err != nil {
		return nil, err
	}
	last, err := io.ReadAll(r.dec)
	if err != nil {
		return nil, r.src.classify(err, "the last chunk")
	}
	if len(last) == 0 || last[len(last)-1] != trailer {
		return nil, fmt.Errorf("%w: no trailer", ErrAuth)
	}
	r.dec = nil
	return r, nil
}

// position makes dec decrypt from off in the stream's plaintext: from the
// start of off's package (DARE's sequence number tells the package), the
// bytes before off in it decrypted, authenticated and discarded.
func (r *Reader) position(off int64) error {
	pkg := off / payloadSize
	cfg := r.cfg
	cfg.SequenceNumber = uint32(pkg)
	dec, err := sio.DecryptReader(io.NewSectionReader(r.body, pkg*packageSize, r.body.Size()-pkg*packageSize), cfg)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	if skip := off - pkg*payloadSize; skip > 0 {
		if _, err := io.CopyN(io.Discard, dec, skip); err != nil {
			return r.src.classify(err, fmt.Sprintf("the chunk at offset %d", pkg*payloadSize))
		}
	}
	r.dec, r.decOff = dec, off
	return nil
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
	if r.dec == nil || r.decOff != r.off {
		if err := r.position(r.off); err != nil {
			r.err = err
			return 0, err
		}
	}
	p = p[:min(int64(len(p)), r.size-r.off)]
	n, err := r.dec.Read(p)
	if err != nil && !(err == io.EOF && n > 0) {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the trailer is still to come
		}
		// The n bytes before the failure were authenticated: return
		// them, and the error from the next Read on.
		r.err = r.src.classify(err, fmt.Sprintf("the chunk at or after offset %d", r.off+int64(n)))
		if n == 0 {
			return 0, r.err
		}
	}
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

// Close closes the file. A Read under way or after returns an error.
func (r *Reader) Close() error { return r.f.Close() }

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
