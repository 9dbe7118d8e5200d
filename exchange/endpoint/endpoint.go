package endpoint

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxName is the longest file name, in bytes, exchanged reads or writes at
// an endpoint: NAME_MAX of the file systems behind them.
const MaxName = 255

// FileInfo describes one entry of a directory.
type FileInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
	Mode    fs.FileMode // type bits as by lstat: a symlink is a symlink
}

// IsRegular reports whether the entry is a regular file.
func (fi FileInfo) IsRegular() bool { return fi.Mode.IsRegular() }

// InfoOf returns the FileInfo of fi, as lstat gave it.
func InfoOf(fi fs.FileInfo) FileInfo {
	return FileInfo{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), Mode: fi.Mode()}
}

// ReadFile is a regular file open for reading on an endpoint.
type ReadFile interface {
	io.ReadCloser
	// Abort cuts a read under way short: it may be called from another
	// goroutine while Read (or a WriteTo the file offers) runs, which then
	// returns soon with an error. It is how a cancelled copy stops; the
	// file must not be read after it, and Close after it is not needed.
	// An endpoint may drop the connection under the file to do it.
	Abort()
}

// WriteFile is a file being created on an endpoint.
type WriteFile interface {
	io.Writer
	// Sync makes the written bytes durable where the endpoint can; an
	// endpoint that cannot (an SFTP server without fsync@openssh.com)
	// returns nil.
	Sync() error
	// Close closes the file: after Sync, the last word on whether every
	// byte was written.
	Close() error
	// Abort cuts a write under way short: it may be called from another
	// goroutine while Write (or a ReadFrom the file offers) runs, which
	// then returns soon with an error. What was written stays, partial,
	// under the file's name: the caller removes it. The file must not be
	// written after it, and Close after it is not needed. An endpoint may
	// drop the connection under the file to do it.
	Abort()
}

// Endpoint is a place where a partner's files live: a directory tree on an
// SFTP server or on the local disk. Paths are slash-separated and absolute
// ("/outbox/claims_1.csv"); a local endpoint confines them to its root.
//
// Every method takes a context; an endpoint connects lazily on first use
// and rebuilds a lost connection. It is safe for concurrent use. Errors name
// the endpoint and the path, never file contents, and wrap the sentinels of
// this package where one applies (see Classify).
type Endpoint interface {
	// String describes the endpoint for logs, e.g. "sftp://host:22".
	String() string

	// Connect connects now if no connection is up, so that a refused host
	// key, login or a missing root is reported before any file operation.
	// Later calls reuse the connection.
	Connect(ctx context.Context) error

	// List returns the entries of dir, without following symlinks.
	List(ctx context.Context, dir string) ([]FileInfo, error)

	// Stat returns the entry at p without following a symlink. A missing
	// entry is an error for which errors.Is(err, fs.ErrNotExist).
	Stat(ctx context.Context, p string) (FileInfo, error)

	// Open opens the regular file at p for reading. A symlink or other
	// non-regular file is refused with ErrNotRegular.
	Open(ctx context.Context, p string) (ReadFile, error)

	// OpenListed opens the file at p that List showed as listed, without
	// looking at it again first (one round trip less than Open over SFTP).
	// It refuses it unless it is still that regular file: a file that
	// changed since (size or mtime) wraps ErrSizeMismatch, one that is not
	// a regular file, or was listed as none, ErrNotRegular.
	OpenListed(ctx context.Context, p string, listed FileInfo) (ReadFile, error)

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
// be used as a file name: it must be one path element of valid UTF-8 of at
// most MaxName bytes, without control characters, no "..", no "/" or "\".
func CheckName(name string) error {
	reason := ""
	switch {
	case name == "" || name == "." || name == "..":
		reason = "empty or dot name"
	case len(name) > MaxName:
		reason = fmt.Sprintf("longer than %d bytes", MaxName)
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
