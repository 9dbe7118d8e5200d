package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors of this package. Callers test them with errors.Is.
var (
	// ErrBadName is returned for a file name that is refused: empty, ".",
	// "..", containing "/", "\", "..", a control character or invalid UTF-8.
	ErrBadName = errors.New("exchange: file name refused")

	// ErrNotRegular is returned when a path names a symlink, directory or
	// device where a regular file is required. Symlinks are never followed.
	ErrNotRegular = errors.New("exchange: not a regular file")

	// ErrHostKeyUnknown is returned when a server presents a host key that
	// is not in known_hosts; ErrHostKeyChanged when it presents a key other
	// than the one known or pinned. Both are security events and permanent.
	ErrHostKeyUnknown = errors.New("exchange: host key unknown")
	ErrHostKeyChanged = errors.New("exchange: host key mismatch")

	// ErrAuth is returned when a server refuses our credentials. Permanent.
	ErrAuth = errors.New("exchange: authentication refused")

	// ErrExists is returned by Create and Rename when the target exists.
	// Nothing is ever overwritten.
	ErrExists = errors.New("exchange: target exists")

	// ErrSizeMismatch is returned when a copy's size differs from what was
	// written or listed: a file still changing, or a short upload.
	ErrSizeMismatch = errors.New("exchange: size mismatch")

	// ErrOldNameLeft is returned by Rename when it made the new name (a
	// hard link) but could not remove the old one: the file stands under
	// both names.
	ErrOldNameLeft = errors.New("exchange: renamed, but the old name could not be removed")
)

// RefusedError is returned when an endpoint refuses an operation for lack
// of permission: SFTP's SSH_FX_PERMISSION_DENIED or SSH_FX_WRITE_PROTECT
// (OpenSSH, ProFTPD's <Limit> denials), or EACCES/EPERM on a local
// directory. Op names the operation refused ("create", "stat", "rename",
// "remove"); Err is the endpoint's own error. It is permanent: the same
// request is refused again until the partner's permissions change.
type RefusedError struct {
	Op  string
	Err error
}

func (e *RefusedError) Error() string { return "partner refused " + e.Op + " (permission denied)" }
func (e *RefusedError) Unwrap() error { return e.Err }

// refused returns err as a *RefusedError of op if it is a refusal for
// lack of permission, else err unchanged.
func refused(op string, err error) error {
	if err == nil || !isDenied(err) {
		return err
	}
	var re *RefusedError
	if errors.As(err, &re) {
		return err
	}
	return &RefusedError{Op: op, Err: err}
}

// FileInfo describes one entry of a directory.
type FileInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
	Mode    fs.FileMode // type bits as by lstat: a symlink is a symlink
}

// IsRegular reports whether the entry is a regular file.
func (fi FileInfo) IsRegular() bool { return fi.Mode.IsRegular() }

// WriteFile is a file being created on an endpoint.
type WriteFile interface {
	io.Writer
	// Sync makes the written bytes durable where the endpoint can; an
	// endpoint that cannot (an SFTP server without fsync@openssh.com)
	// returns nil.
	Sync() error
	Close() error
}

// Endpoint is a place where a partner's files live: a directory tree on an
// SFTP server or on the local disk. Paths are slash-separated and absolute
// ("/outbox/claims_1.csv"); a local endpoint confines them to its root.
//
// Every method takes a context; an endpoint connects lazily on first use
// and rebuilds a lost connection. It is safe for concurrent use. Errors name
// the endpoint and the path, never file contents.
type Endpoint interface {
	// String describes the endpoint for logs, e.g. "sftp://host:22".
	String() string

	// List returns the entries of dir, without following symlinks.
	List(ctx context.Context, dir string) ([]FileInfo, error)

	// Stat returns the entry at p without following a symlink. A missing
	// entry is an error for which errors.Is(err, fs.ErrNotExist).
	Stat(ctx context.Context, p string) (FileInfo, error)

	// Open opens the regular file at p for reading. A symlink or other
	// non-regular file is refused with ErrNotRegular.
	Open(ctx context.Context, p string) (io.ReadCloser, error)

	// OpenListed opens the file at p that List showed as listed, without
	// looking at it again first (one round trip less than Open over SFTP).
	// It refuses it unless it is still that regular file: a file that
	// changed since (size or mtime) wraps ErrSizeMismatch, one that is not
	// a regular file, or was listed as none, ErrNotRegular.
	OpenListed(ctx context.Context, p string, listed FileInfo) (io.ReadCloser, error)

	// Create creates the file p exclusively (O_EXCL): if p exists it
	// returns an error for which errors.Is(err, ErrExists).
	Create(ctx context.Context, p string) (WriteFile, error)

	// Rename renames from to to within the endpoint. It never replaces an
	// existing to: it returns ErrExists instead. Where the endpoint can, it
	// makes to a hard link of from and then removes from, so that the
	// refusal is atomic; a crash between the two leaves one file under
	// both names, which a Rename of the same names completes only where
	// it can tell them one file (a local directory: one inode); over
	// SFTP, which shows no inode, it returns ErrExists. If from
	// cannot be removed after the link, it returns an error wrapping
	// ErrOldNameLeft: to stands, and so does from.
	Rename(ctx context.Context, from, to string) error

	// Remove removes the file at p. A missing file is an error for which
	// errors.Is(err, fs.ErrNotExist).
	Remove(ctx context.Context, p string) error

	// Close closes any connection. The endpoint may be used again after.
	Close() error
}

// CheckName returns ErrBadName (wrapped, with the reason) if name may not
// be used as a file name: it must be one path element of valid UTF-8
// without control characters, no "..", no "/" or "\".
func CheckName(name string) error {
	reason := ""
	switch {
	case name == "" || name == "." || name == "..":
		reason = "empty or dot name"
	case len(name) > 255:
		reason = "longer than 255 bytes"
	case !utf8.ValidString(name):
		reason = "not valid UTF-8"
	case strings.ContainsAny(name, `/\`):
		reason = "contains a path separator"
	case strings.Contains(name, ".."):
		reason = `contains ".."`
	default:
		for _, r := range name {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				reason = "contains a control character"
				break
			}
		}
	}
	if reason != "" {
		return fmt.Errorf("%w: %q: %s", ErrBadName, name, reason)
	}
	return nil
}

// join joins a directory and a checked name.
func join(dir, name string) string { return path.Join(dir, name) }

// permanentError marks an error that a retry will not cure.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: retrying will not help (auth refused,
// host key mismatch, permission refused, disk full, file rejected). It
// returns nil for nil.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p permanentError
	var r *RefusedError
	return errors.As(err, &p) || errors.As(err, &r) ||
		errors.Is(err, ErrHostKeyUnknown) || errors.Is(err, ErrHostKeyChanged) ||
		errors.Is(err, ErrAuth) || errors.Is(err, ErrBadName)
}
