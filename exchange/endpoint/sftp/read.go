package sftp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/pkg/sftp"
	"go.uber.org/zap"

	"github.com/exchanged/exchanged/exchange/endpoint"
)

func (s *SFTP) List(ctx context.Context, dir string) ([]endpoint.FileInfo, error) {
	var out []endpoint.FileInfo
	err := s.do(ctx, func(c *sftp.Client) error {
		// READDIR returns each entry's attributes as lstat would: one round
		// trip per batch, no stat per file, symlinks reported as symlinks.
		fis, err := c.ReadDirContext(ctx, dir)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, fi := range fis {
			out = append(out, endpoint.InfoOf(fi))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sftp %s: list %q: %w", s.cfg.Address(), dir, notExist(err))
	}
	return out, nil
}

// Stat returns the entry at p as LSTAT shows it. On a server whose LSTAT
// may follow a symlink (lstatFollows), READLINK tells a symlink apart: it
// is returned as one, its size that of the target path the server
// reports, its mtime unknown (zero), since LSTAT showed its target's.
func (s *SFTP) Stat(ctx context.Context, p string) (endpoint.FileInfo, error) {
	var out endpoint.FileInfo
	err := s.do(ctx, func(c *sftp.Client) error {
		var err error
		out, err = s.lstat(c, p)()
		return err
	})
	if err != nil {
		return endpoint.FileInfo{}, fmt.Errorf("sftp %s: stat %q: %w", s.cfg.Address(), p, refused("stat", notExist(err)))
	}
	return out, nil
}

// lstatFollows reports whether a server, known by its SSH identification
// string, may follow a symlink in LSTAT: SFTP v3 says LSTAT does not,
// but ProFTPD's mod_sftp ("SSH-2.0-mod_sftp") resolves every path before
// it looks. Only servers known to lstat(2) the path itself are trusted:
// OpenSSH (its sftp-server and internal-sftp) and the in-process server
// of internal/sftpd (os.Root.Lstat). Every other server, known or not,
// gets READLINK beside each LSTAT. A server that claims to be OpenSSH is
// taken at its word.
func lstatFollows(serverVersion string) bool {
	for _, prefix := range []string{"SSH-2.0-OpenSSH_", "SSH-2.0-exchanged_sftpd"} {
		if strings.HasPrefix(serverVersion, prefix) {
			return false
		}
	}
	return true
}

// lstat sends LSTAT for p, and READLINK beside it where the server's
// LSTAT may follow a symlink, and returns a func that waits for the
// answers. The requests go out from goroutines of their own, so that they
// are in flight together (and with whatever the caller sends before it
// waits): READLINK costs a request, not a round trip. A symlink is
// returned with fs.ModeSymlink, whichever of the two showed it.
func (s *SFTP) lstat(c *sftp.Client, p string) func() (endpoint.FileInfo, error) {
	s.mu.Lock()
	readlink := s.readlink || s.client != c // a client not ours: the safe path
	s.mu.Unlock()
	var (
		fi         os.FileInfo
		target     string
		err, rlerr error
		wg         sync.WaitGroup
	)
	wg.Go(func() { fi, err = c.Lstat(p) })
	if readlink {
		wg.Go(func() { target, rlerr = c.ReadLink(p) })
	}
	return func() (endpoint.FileInfo, error) {
		wg.Wait()
		switch {
		case err != nil:
			return endpoint.FileInfo{}, err
		case !readlink || fi.Mode()&fs.ModeSymlink != 0 || notSymlink(rlerr):
			return endpoint.InfoOf(fi), nil
		case rlerr == nil:
			return endpoint.FileInfo{Name: fi.Name(), Size: int64(len(target)), Mode: fs.ModeSymlink | 0o777}, nil
		case isNotExist(rlerr):
			return endpoint.FileInfo{}, rlerr // gone since the LSTAT
		}
		// Refused (ProFTPD's <Limit READLINK>) or not understood: a file
		// that cannot be told from a symlink is not taken for a file.
		return endpoint.FileInfo{}, fmt.Errorf("readlink, to tell a symlink from a file: %w", refused("readlink", rlerr))
	}
}

// notSymlink reports whether err, a READLINK's answer, says that the path
// is not a symlink: readlink(2)'s EINVAL, which OpenSSH and pkg/sftp send
// as status 4 (failure) and ProFTPD as status 8 (op unsupported), the
// status also of a server that has no READLINK (and no symlinks).
func notSymlink(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && (se.FxCode() == sftp.ErrSSHFxFailure || se.FxCode() == sftp.ErrSSHFxOpUnsupported)
}

// Open opens the regular file at p for reading (see open).
func (s *SFTP) Open(ctx context.Context, p string) (endpoint.ReadFile, error) {
	return s.open(ctx, p, nil)
}

// OpenListed opens the regular file at p that a listing showed as listed.
// It sends the lstat that Open sends first together with the open, which
// spares a round trip per file: the file opened must be the regular file
// lstat shows (no symlink followed), with the listed size, or it is
// refused, wrapping endpoint.ErrSizeMismatch if it is a regular file that changed
// since, and endpoint.ErrNotRegular if it is not a regular file.
func (s *SFTP) OpenListed(ctx context.Context, p string, listed endpoint.FileInfo) (endpoint.ReadFile, error) {
	if !listed.IsRegular() {
		return nil, fmt.Errorf("sftp %s: open %q: %w", s.cfg.Address(), p, endpoint.ErrNotRegular)
	}
	return s.open(ctx, p, &listed)
}

// open opens the regular file at p. SFTP v3 has no O_NOFOLLOW, and OPEN
// follows a symlink on every server we know (OpenSSH calls open(2)
// without O_NOFOLLOW, ProFTPD resolves the path first), so: lstat (with
// READLINK where the server's LSTAT may follow a symlink too), open, then
// fstat the handle: what was opened must be the regular file lstat
// showed, with its size and mtime. A symlink is refused with
// endpoint.ErrNotRegular and logged as a security event; so is anything else
// swapped in between, without the event. With a listing, lstat and open
// go out together.
//
// What this cannot see: a symlink swapped in after the server answered
// LSTAT (and READLINK) and before it OPENs, or answered before them (with
// a listing the three are in flight at once, in no set order), whose
// target has exactly the size and mtime lstat showed. Then the target is
// read. The window is one request's handling on the server, and the
// target must be readable by our user there (on a chrooted login, within
// the chroot).
func (s *SFTP) open(ctx context.Context, p string, listed *endpoint.FileInfo) (endpoint.ReadFile, error) {
	var f sftpReader
	var symlink bool
	err := s.do(ctx, func(c *sftp.Client) error {
		var lfi endpoint.FileInfo
		var lerr, err error
		look := s.lstat(c, p)
		if listed == nil {
			if lfi, lerr = look(); lerr == nil && lfi.IsRegular() {
				f.File, err = c.OpenFile(p, os.O_RDONLY)
			}
		} else {
			f.File, err = c.OpenFile(p, os.O_RDONLY)
			lfi, lerr = look()
		}
		symlink = lerr == nil && lfi.Mode&fs.ModeSymlink != 0
		if lerr == nil && !lfi.IsRegular() {
			lerr = endpoint.ErrNotRegular // whatever the open made of it
		}
		if lerr != nil || err != nil {
			if f.File != nil {
				f.File.Close()
			}
			return cmp.Or(lerr, err)
		}
		ofi, err := f.File.Stat()
		switch {
		case err != nil:
		case !ofi.Mode().IsRegular() || ofi.Size() != lfi.Size || !ofi.ModTime().Equal(lfi.ModTime):
			err = endpoint.ErrNotRegular
		case listed != nil && lfi.Size != listed.Size:
			err = fmt.Errorf("%w: listed %d bytes, now %d", endpoint.ErrSizeMismatch, listed.Size, lfi.Size)
		}
		if err != nil {
			f.File.Close()
			return err
		}
		s.mu.Lock()
		f.packet = s.packet
		s.mu.Unlock()
		f.size = lfi.Size
		f.abort = s.abortFunc(c)
		return nil
	})
	if symlink {
		s.log.Warn("symlink refused", zap.Bool("security", true), zap.String("partner", s.partner),
			zap.String("endpoint", s.String()), zap.String("file", path.Base(p)), zap.String("outcome", "refused"))
	}
	if err != nil {
		return nil, fmt.Errorf("sftp %s: open %q: %w", s.cfg.Address(), p, notExist(err))
	}
	return f, nil
}

// sftpReader is a remote file open for reading, with the size lstat gave
// it just before. Its errors of a lost connection wrap
// endpoint.ErrConnectionLost.
type sftpReader struct {
	*sftp.File
	size   int64
	packet int
	abort  func()
}

// Abort cuts the connection under a transfer in progress: pkg/sftp holds
// the file's lock for a whole WriteTo or ReadFrom, so Close would wait for
// the transfer to end. The next call redials.
func (f sftpReader) Abort() { f.abort() }

// Read reads from the file; io.EOF at its end is returned as it is.
func (f sftpReader) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	if err == io.EOF {
		return n, err
	}
	return n, connectionLost(err)
}

// Close closes the file.
func (f sftpReader) Close() error { return connectionLost(f.File.Close()) }

// smallBufs holds read buffers of one request and a byte.
var smallBufs sync.Pool

// WriteTo copies the file to w. A file smaller than one request is read in
// one round trip: two requests at once, the second past its end, where
// pkg/sftp's own WriteTo would stat it first and then read until a read
// comes back empty. A larger file, or one that grew since the lstat, goes
// through pkg/sftp's concurrent reads; the caller checks the size read.
func (r sftpReader) WriteTo(w io.Writer) (int64, error) {
	n, err := r.writeTo(w)
	return n, connectionLost(err)
}

func (r sftpReader) writeTo(w io.Writer) (int64, error) {
	if r.packet <= 0 || r.size >= int64(r.packet) {
		return r.File.WriteTo(w)
	}
	bp, _ := smallBufs.Get().(*[]byte)
	if bp == nil || len(*bp) != r.packet+1 {
		b := make([]byte, r.packet+1)
		bp = &b
	}
	defer smallBufs.Put(bp)
	// More than one request's worth: pkg/sftp sends both requests at once
	// and takes a short read as the end of the file.
	n, err := r.File.ReadAt(*bp, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if m, werr := w.Write((*bp)[:n]); werr != nil {
		return int64(m), werr
	}
	if err != nil {
		return int64(n), nil // io.EOF: the whole file
	}
	if _, err := r.File.Seek(int64(n), io.SeekStart); err != nil {
		return int64(n), err
	}
	m, err := r.File.WriteTo(w)
	return int64(n) + m, err
}
