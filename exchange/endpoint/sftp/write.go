package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pkg/sftp"

	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/crash"
)

// Create opens p with O_CREAT|O_EXCL, the one request a write-only drop
// folder allows. A server that answers an existing p with a generic
// failure rather than SSH_FX_FILE_ALREADY_EXISTS is asked with an lstat
// whether p exists; if that is refused too, the failure is returned as it
// came.
func (s *SFTP) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	var f sftpFile
	err := s.once(ctx, func(c *sftp.Client) error {
		var err error
		f.File, err = c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		switch {
		case err == nil:
			f.abort = s.abortFunc(c) // the connection that carries the file
		case alreadyExists(err):
			return endpoint.ErrExists
		case isFailure(err) || isDenied(err):
			// ProFTPD (AllowOverwrite off) refuses an existing target as
			// a permission.
			if _, serr := c.Lstat(p); serr == nil {
				return endpoint.ErrExists
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sftp %s: create %q: %w", s.cfg.Address(), p, refused("create", notExist(err)))
	}
	return f, nil
}

// abortFunc returns a func that drops the connection of client c.
func (s *SFTP) abortFunc(c *sftp.Client) func() {
	return func() { s.drop(c) }
}

// sftpFile is a remote file being written. Its errors of a lost
// connection wrap endpoint.ErrConnectionLost.
type sftpFile struct {
	*sftp.File
	abort func() // drops the connection that carries the file
}

var _ endpoint.WriteFile = sftpFile{}

// Abort cuts the connection under an upload in progress (see sftpReader).
func (f sftpFile) Abort() { f.abort() }

// Write writes to the file.
func (f sftpFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	return n, connectionLost(err)
}

// Close closes the file: the server's last word on the upload.
func (f sftpFile) Close() error { return connectionLost(f.File.Close()) }

// Sync asks the server to fsync the file (fsync@openssh.com). A server
// without the extension is taken as having synced: its close is then the
// last word we can have.
func (f sftpFile) Sync() error {
	err := f.File.Sync()
	var se *sftp.StatusError
	if errors.Is(err, sftp.ErrSSHFxOpUnsupported) || (errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported) {
		return nil
	}
	return connectionLost(err)
}

// ReadFrom uploads with concurrent writes. pkg/sftp's own ReadFrom goes
// concurrent only when it can learn r's size (Len, Size, Stat: a staged
// *os.File has Stat, also behind io.Copy's os.File.WriteTo detour) and
// writes one request at a time otherwise; a stream of unknown size gets
// concurrent writes here too. A write that fails fails the whole call, so
// that the caller removes the file: later writes may have succeeded and
// left it at full size around a hole.
func (f sftpFile) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	switch r.(type) {
	case interface{ Len() int }, interface{ Size() int64 }, *io.LimitedReader,
		interface{ Stat() (os.FileInfo, error) }:
		n, err = f.File.ReadFrom(r)
	default:
		n, err = f.File.ReadFromWithConcurrency(r, 0)
	}
	return n, connectionLost(err)
}

// Rename never replaces an existing file. Where the server offers
// hardlink@openssh.com (OpenSSH does), it links to to from, which fails
// atomically if to exists, then removes from. Elsewhere, or if the server
// refuses the link, it uses plain SFTP rename, which the protocol
// forbids to replace an existing target; OpenSSH and ProFTPD keep to that,
// but some servers (SFTPGo with overwrite permission) replace, so a check
// first narrows the window there to the moment between check and rename.
// posix-rename@openssh.com would replace, so it is never used. An existing
// target is endpoint.ErrExists however the server says so: ProFTPD's
// SSH_FX_FILE_ALREADY_EXISTS, or a failure while lstat finds to.
//
// A crash between link and remove leaves one file under both names. Rename
// does not complete that: SFTP shows no inode, and another file alike by
// lstat (two of ours of one size, made in one second) would pass for the
// same one, and ours be removed. Here to exists, and the answer is
// endpoint.ErrExists: the caller that recorded the upload tells (see
// SameFile).
func (s *SFTP) Rename(ctx context.Context, from, to string) error {
	var left error // from could not be removed after the link
	err := s.once(ctx, func(c *sftp.Client) error {
		if _, ok := c.HasExtension(hardlinkExtension); ok {
			err := c.Link(from, to)
			switch {
			case err == nil:
				crash.At("linked")
				if left = c.Remove(from); lostConnection(left) {
					return left // the delivery, resumed, completes it (see SameFile)
				}
				return nil
			case alreadyExists(err) || isFailure(err) && s.exists(c, to):
				return endpoint.ErrExists
			case isNotExist(err) || lostConnection(err):
				return err
			}
			// Refused or not supported after all: a plain rename may
			// still be allowed.
		}
		if _, err := c.Lstat(to); err == nil {
			return endpoint.ErrExists
		} else if !isNotExist(err) {
			return refused("stat", err)
		}
		err := c.Rename(from, to)
		if alreadyExists(err) || isFailure(err) && s.exists(c, to) {
			return endpoint.ErrExists
		}
		return refused("rename", err)
	})
	if err != nil {
		return fmt.Errorf("sftp %s: rename %q to %q: %w", s.cfg.Address(), from, to, notExist(err))
	}
	if left != nil && !isNotExist(left) {
		return fmt.Errorf("sftp %s: rename %q to %q: %w: %w", s.cfg.Address(), from, to, endpoint.ErrOldNameLeft, refused("remove", left))
	}
	return nil
}

// hardlinkExtension is OpenSSH's link(2), which never replaces its target.
const hardlinkExtension = "hardlink@openssh.com"

// exists reports whether lstat finds p.
func (s *SFTP) exists(c *sftp.Client, p string) bool {
	_, err := c.Lstat(p)
	return err == nil
}

// SameFile reports whether lstat shows a and b alike: both regular files
// (b not a symlink, where the server's LSTAT may follow one), of one size,
// mtime, mode, owner and group. SFTP shows no inode, so two files alike by
// chance are alike too: only a caller that knows that it linked one name
// to the other, and cannot read them, may take the answer for one file.
func (s *SFTP) SameFile(ctx context.Context, a, b string) (bool, error) {
	var same bool
	err := s.do(ctx, func(c *sftp.Client) error {
		ai, err := c.Lstat(a)
		if err != nil {
			return err
		}
		bi, err := c.Lstat(b)
		if err != nil {
			return err
		}
		fi, err := s.lstat(c, b)()
		same = err == nil && fi.IsRegular() && sameFile(ai, bi)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sftp %s: stat %q and %q: %w", s.cfg.Address(), a, b, refused("stat", notExist(err)))
	}
	return same, nil
}

// sameFile reports whether two lstat results can be one file under two
// names: both regular, with the same size, mtime, mode, owner and group.
func sameFile(a, b os.FileInfo) bool {
	if !a.Mode().IsRegular() || a.Mode() != b.Mode() || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
		return false
	}
	as, aok := a.Sys().(*sftp.FileStat)
	bs, bok := b.Sys().(*sftp.FileStat)
	return aok && bok && as.UID == bs.UID && as.GID == bs.GID
}

// Remove removes the file at p.
func (s *SFTP) Remove(ctx context.Context, p string) error {
	err := s.do(ctx, func(c *sftp.Client) error { return c.Remove(p) })
	if err != nil {
		return fmt.Errorf("sftp %s: remove %q: %w", s.cfg.Address(), p, refused("remove", notExist(err)))
	}
	return nil
}
