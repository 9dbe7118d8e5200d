package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/crash"
	"github.com/exchanged/exchanged/internal/writeback"
)

// LocalFileMode is the mode of files a local endpoint creates: readable by
// the owner and its group (the case system's), never by others.
const LocalFileMode = 0o640

// Local is an Endpoint on a local directory tree. Every path is confined to
// Root with os.Root: neither ".." nor a symlink can reach outside it.
type Local struct {
	root string

	mu sync.Mutex
	r  *os.Root
}

var _ endpoint.Endpoint = (*Local)(nil)

// New returns a local endpoint rooted at root. The root is opened lazily,
// so a missing root is reported on first use (or by Connect).
func New(root string) *Local { return &Local{root: root} }

// String describes the endpoint for logs: file://root.
func (l *Local) String() string { return "file://" + l.root }

// Connect opens the root now, so that a missing or unreadable root is
// reported before any file operation.
func (l *Local) Connect(ctx context.Context) error {
	_, err := l.open()
	return err
}

func (l *Local) open() (*os.Root, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r == nil {
		r, err := os.OpenRoot(l.root)
		if err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
		l.r = r
	}
	return l.r, nil
}

// rel turns an endpoint path into one relative to the root.
func rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// List returns the entries of dir as lstat shows them.
func (l *Local) List(ctx context.Context, dir string) ([]endpoint.FileInfo, error) {
	r, err := l.open()
	if err != nil {
		return nil, err
	}
	d, err := r.Open(rel(dir))
	if err != nil {
		return nil, fmt.Errorf("local: list %q: %w", dir, err)
	}
	defer d.Close()
	var out []endpoint.FileInfo
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ents, err := d.ReadDir(1024)
		for _, e := range ents {
			fi, ierr := e.Info() // lstat: DirEntry never follows symlinks
			if ierr != nil {
				if errors.Is(ierr, fs.ErrNotExist) {
					continue // removed while listing
				}
				return nil, fmt.Errorf("local: list %q: %w", dir, ierr)
			}
			out = append(out, endpoint.InfoOf(fi))
		}
		if err == io.EOF || (err == nil && len(ents) == 0) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("local: list %q: %w", dir, err)
		}
	}
}

// Stat returns the entry at p as lstat shows it.
func (l *Local) Stat(ctx context.Context, p string) (endpoint.FileInfo, error) {
	r, err := l.open()
	if err != nil {
		return endpoint.FileInfo{}, err
	}
	fi, err := r.Lstat(rel(p))
	if err != nil {
		return endpoint.FileInfo{}, fmt.Errorf("local: stat %q: %w", p, endpoint.Refused("stat", err))
	}
	return endpoint.InfoOf(fi), nil
}

// Open opens the regular file at p; a symlink is refused, not followed.
func (l *Local) Open(ctx context.Context, p string) (endpoint.ReadFile, error) {
	f, _, err := l.openRegular(p)
	if err != nil {
		return nil, err
	}
	return readFile{f}, nil
}

// readFile is a local file open for reading.
type readFile struct{ *os.File }

// Abort closes the file under a read in progress.
func (f readFile) Abort() { f.File.Close() }

// OpenListed opens the regular file at p that a listing showed as listed:
// as Open, and it must still have the listed size and mtime.
func (l *Local) OpenListed(ctx context.Context, p string, listed endpoint.FileInfo) (endpoint.ReadFile, error) {
	if !listed.IsRegular() {
		return nil, fmt.Errorf("local: open %q: %w", p, endpoint.ErrNotRegular)
	}
	f, fi, err := l.openRegular(p)
	if err != nil {
		return nil, err
	}
	if fi.Size() != listed.Size || !fi.ModTime().Equal(listed.ModTime) {
		f.Close()
		return nil, fmt.Errorf("local: open %q: %w: listed %d bytes, open file has %d or another mtime",
			p, endpoint.ErrSizeMismatch, listed.Size, fi.Size())
	}
	return readFile{f}, nil
}

// openRegular opens the regular file at p and returns it with its fstat.
func (l *Local) openRegular(p string) (*os.File, os.FileInfo, error) {
	r, err := l.open()
	if err != nil {
		return nil, nil, err
	}
	// os.Root resolves symlinks within the root itself, so refuse a
	// symlink by lstat, and check that what was opened is what was
	// lstat'ed: a symlink swapped in between is refused, not read.
	lfi, err := r.Lstat(rel(p))
	if err != nil {
		return nil, nil, fmt.Errorf("local: open %q: %w", p, err)
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("local: open %q: %w", p, endpoint.ErrNotRegular)
	}
	f, err := r.OpenFile(rel(p), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("local: open %q: %w", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("local: open %q: %w", p, err)
	}
	if !fi.Mode().IsRegular() || !os.SameFile(fi, lfi) {
		f.Close()
		return nil, nil, fmt.Errorf("local: open %q: %w", p, endpoint.ErrNotRegular)
	}
	return f, fi, nil
}

// Create creates p exclusively, with LocalFileMode, never through a
// symlink.
func (l *Local) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	r, err := l.open()
	if err != nil {
		return nil, err
	}
	f, err := r.OpenFile(rel(p), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, LocalFileMode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("local: create %q: %w", p, endpoint.ErrExists)
		}
		return nil, fmt.Errorf("local: create %q: %w", p, endpoint.Refused("create", err))
	}
	return &localFile{File: f, r: r, dir: path.Dir(rel(p))}, nil
}

// localFile syncs its directory too, so that the new entry is durable.
type localFile struct {
	*os.File
	r   *os.Root
	dir string
}

// Abort closes the file under a write in progress.
func (f *localFile) Abort() { f.File.Close() }

// ReadFrom writes what it reads from r until io.EOF (as io.Copy does, in
// writes of up to copyBuffer bytes where r has no WriteTo: a staged file's
// decrypted chunk at a time) and starts the write-back to disk as it goes
// (see package writeback), so that Sync finds little left to write.
func (f *localFile) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	return io.CopyBuffer(writeback.New(f.File), r, *bp)
}

// copyBuffer is the size of ReadFrom's buffers, kept for the next file.
const copyBuffer = 256 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBuffer); return &b }}

// Sync makes the file and its directory entry durable.
func (f *localFile) Sync() error {
	if err := f.File.Sync(); err != nil {
		return err
	}
	return syncRootDir(f.r, f.dir)
}

func syncRootDir(r *os.Root, dir string) error {
	d, err := r.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Rename links to as a new name of from, then removes from: link(2) fails
// when to exists, so nothing is ever replaced, atomically. Where hard links
// are not supported it checks and renames, which leaves a small window.
func (l *Local) Rename(ctx context.Context, from, to string) error {
	r, err := l.open()
	if err != nil {
		return err
	}
	rf, rt := rel(from), rel(to)
	var left error // from could not be removed after the link
	err = r.Link(rf, rt)
	switch {
	case err == nil:
		crash.At("linked")
		left = r.Remove(rf)
	case errors.Is(err, fs.ErrExist):
		// A crash between link and unlink leaves both names on one file:
		// the rename happened; finish it rather than refuse it forever.
		fi, ferr := r.Lstat(rf)
		ti, terr := r.Lstat(rt)
		if ferr != nil || terr != nil || !os.SameFile(fi, ti) {
			return fmt.Errorf("local: rename %q to %q: %w", from, to, endpoint.ErrExists)
		}
		left = r.Remove(rf)
	case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EXDEV):
		if _, serr := r.Lstat(rt); serr == nil {
			return fmt.Errorf("local: rename %q to %q: %w", from, to, endpoint.ErrExists)
		}
		if err := r.Rename(rf, rt); err != nil {
			return fmt.Errorf("local: rename %q to %q: %w", from, to, endpoint.Refused("rename", err))
		}
	default:
		return fmt.Errorf("local: rename %q to %q: %w", from, to, endpoint.Refused("rename", err))
	}
	if left != nil {
		return fmt.Errorf("local: rename %q to %q: %w: %w", from, to, endpoint.ErrOldNameLeft, endpoint.Refused("remove", left))
	}
	if err := syncRootDir(r, path.Dir(rt)); err != nil {
		return fmt.Errorf("local: rename %q to %q: sync dir: %w", from, to, err)
	}
	if d := path.Dir(rf); d != path.Dir(rt) {
		if err := syncRootDir(r, d); err != nil {
			return fmt.Errorf("local: rename %q to %q: sync dir: %w", from, to, err)
		}
	}
	return nil
}

// Remove removes the file at p and syncs its directory.
func (l *Local) Remove(ctx context.Context, p string) error {
	r, err := l.open()
	if err != nil {
		return err
	}
	if err := r.Remove(rel(p)); err != nil {
		return fmt.Errorf("local: remove %q: %w", p, endpoint.Refused("remove", err))
	}
	return syncRootDir(r, path.Dir(rel(p)))
}

// Close closes the root; the next call opens it again.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r == nil {
		return nil
	}
	err := l.r.Close()
	l.r = nil
	return err
}
