package seal

import (
	"errors"
	"fmt"
	"io"
	"os"

	"filippo.io/age"
)

// readAhead is how much plaintext a Reader decrypts at once: whole
// 64 KiB chunks, so that each is decrypted once however small the
// caller's reads.
const readAhead = 1 << 20

// Reader reads the plaintext of a sealed file. Every byte it returns
// belongs to a chunk that was authenticated, and the last chunk was
// authenticated when it was opened, so that a truncated file is found
// then; a chunk that fails is an error wrapping ErrAuth, returned again
// by every later Read. It reads from an offset (Seek), so a reader may
// go over the file more than once.
type Reader struct {
	f      *os.File
	src    *tracked
	ra     io.ReaderAt
	size   int64 // of the plaintext
	off    int64
	buf    []byte // plaintext from bufOff
	bufOff int64
	seen   int64 // every byte before seen was read and authenticated
	err    error
}

// Open opens the sealed file f, which the Reader then owns (Close closes
// it). A file that is not sealed, is sealed under another key, or whose
// last chunk fails authentication is refused with an error wrapping
// ErrAuth; f is then left open for the caller.
func (k *Key) Open(f *os.File) (*Reader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	src := &tracked{r: f}
	sealed, err := IsSealed(src)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if !sealed {
		return nil, fmt.Errorf("%w: not sealed (no age header)", ErrAuth)
	}
	ra, size, err := age.DecryptReaderAt(src, fi.Size(), k.ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, fmt.Errorf("%w: sealed under another key", ErrAuth)
		}
		return nil, src.classify(err)
	}
	return &Reader{f: f, src: src, ra: ra, size: size}, nil
}

// Size returns the size of the plaintext.
func (r *Reader) Size() int64 { return r.size }

// Verified reports whether every byte of the file was read, and so
// authenticated, through r.
func (r *Reader) Verified() bool { return r.seen == r.size }

// Verify reads the whole file unless Verified, so that a chunk failing
// authentication is found before any byte is used, and returns to the
// start. It returns nil only if every chunk passed.
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
	if r.off < r.bufOff || r.off >= r.bufOff+int64(len(r.buf)) {
		if r.buf == nil {
			r.buf = make([]byte, readAhead)
		}
		n, err := r.ra.ReadAt(r.buf[:cap(r.buf)], r.off)
		if err != nil && !(err == io.EOF && r.off+int64(n) == r.size) {
			r.buf = r.buf[:0]
			r.err = r.src.classify(err)
			return 0, r.err
		}
		r.buf, r.bufOff = r.buf[:n], r.off
	}
	n := copy(p, r.buf[r.off-r.bufOff:])
	if r.off <= r.seen {
		r.seen = max(r.seen, r.off+int64(n))
	}
	r.off += int64(n)
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

// tracked is the sealed file as age reads it, keeping the first error
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

// classify returns err, from age, as a read error if the file failed to
// be read, else as a failure to authenticate (wrapping ErrAuth).
func (t *tracked) classify(err error) error {
	if t.err != nil {
		return fmt.Errorf("seal: read: %w", t.err)
	}
	return fmt.Errorf("%w: %v", ErrAuth, err)
}
