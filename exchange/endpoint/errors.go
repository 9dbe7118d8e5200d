package endpoint

import (
	"errors"
	"fmt"
	"io/fs"
)

// Errors of endpoints. Callers test them with errors.Is; Classify says
// what each means for a retry and for the run.
var (
	// ErrBadName is returned for a file name that is refused: empty, ".",
	// "..", containing "/", "\", "..", a control character or invalid
	// UTF-8, or longer than MaxName bytes. Permanent.
	ErrBadName = errors.New("endpoint: file name refused")

	// ErrNotRegular is returned when a path names a symlink, directory or
	// device where a regular file is required. Symlinks are never followed.
	ErrNotRegular = errors.New("endpoint: not a regular file")

	// ErrHostKeyUnknown is returned when a server presents a host key that
	// is not in known_hosts; ErrHostKeyChanged when it presents a key other
	// than the one known or pinned; ErrHostKeyRevoked, which wraps
	// ErrHostKeyChanged, when it presents a key marked @revoked. Each is a
	// security event, permanent and fatal.
	ErrHostKeyUnknown = errors.New("endpoint: host key unknown")
	ErrHostKeyChanged = errors.New("endpoint: host key mismatch")
	ErrHostKeyRevoked = fmt.Errorf("%w: key revoked", ErrHostKeyChanged)

	// ErrAuth is returned when a server refuses our credentials. Permanent
	// and fatal.
	ErrAuth = errors.New("endpoint: authentication refused")

	// ErrExists is returned by Create and Rename when the target exists.
	// Nothing is ever overwritten.
	ErrExists = errors.New("endpoint: target exists")

	// ErrSizeMismatch is returned when a copy's size differs from what was
	// written or listed: a file still changing, or a short upload.
	ErrSizeMismatch = errors.New("endpoint: size mismatch")

	// ErrOldNameLeft is returned by Rename when it made the new name (a
	// hard link) but could not remove the old one: the file stands under
	// both names.
	ErrOldNameLeft = errors.New("endpoint: renamed, but the old name could not be removed")

	// ErrConnectionLost is wrapped by every error of a call or transfer
	// whose connection was lost under it. The endpoint redials on its next
	// call. Transient.
	ErrConnectionLost = errors.New("endpoint: connection lost")
)

// RefusedError is returned when an endpoint refuses an operation for lack
// of permission: SFTP's SSH_FX_PERMISSION_DENIED or SSH_FX_WRITE_PROTECT
// (OpenSSH, ProFTPD's <Limit> denials), or EACCES/EPERM on a local
// directory. Op names the operation refused ("create", "stat", "rename",
// "remove", "readlink"); Err is the endpoint's own error. It is permanent:
// the same request is refused again until the partner's permissions change.
type RefusedError struct {
	Op  string
	Err error
}

func (e *RefusedError) Error() string { return "partner refused " + e.Op + " (permission denied)" }
func (e *RefusedError) Unwrap() error { return e.Err }

// Refused returns err as a *RefusedError of op if it is a refusal for lack
// of permission (errors.Is(err, fs.ErrPermission)) and not one already,
// else err unchanged. An implementation whose protocol has other words for
// a refusal makes the *RefusedError itself.
func Refused(op string, err error) error {
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return Refuse(op, err)
}

// Refuse returns err as a *RefusedError of op, unless it is one already.
// It returns nil for nil.
func Refuse(op string, err error) error {
	var re *RefusedError
	if err == nil || errors.As(err, &re) {
		return err
	}
	return &RefusedError{Op: op, Err: err}
}
