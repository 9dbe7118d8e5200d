package sftp

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/pkg/sftp"

	"github.com/exchanged/exchanged/exchange/endpoint"
)

// refused returns err as an *endpoint.RefusedError of op if the server
// refused the request for lack of permission (isDenied), else unchanged.
func refused(op string, err error) error {
	if err == nil || !isDenied(err) {
		return err
	}
	return endpoint.Refuse(op, err)
}

// isNotExist reports whether err is a server's "no such file".
func isNotExist(err error) bool {
	var se *sftp.StatusError
	return errors.Is(err, fs.ErrNotExist) || (errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxNoSuchFile)
}

// fxFileAlreadyExists is SSH_FX_FILE_ALREADY_EXISTS, a status of SFTP v5
// that ProFTPD sends v3 clients too, for a rename onto an existing target.
const fxFileAlreadyExists = 11

// alreadyExists reports whether err is a server's "file already exists":
// the one place that reads status 11 as endpoint.ErrExists.
func alreadyExists(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == fxFileAlreadyExists
}

// isFailure reports whether err is SSH_FX_FAILURE, the status a server
// sends when it says no more.
func isFailure(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure
}

// fxWriteProtect is SSH_FX_WRITE_PROTECT, a status of SFTP v5 that a
// server may send v3 clients too, for a request refused as read-only.
const fxWriteProtect = 12

// isDenied reports whether err refuses a request for lack of permission:
// fs.ErrPermission (pkg/sftp's name for SSH_FX_PERMISSION_DENIED, and the
// local EACCES and EPERM), or the status itself, or SSH_FX_WRITE_PROTECT.
func isDenied(err error) bool {
	var se *sftp.StatusError
	return errors.Is(err, fs.ErrPermission) ||
		errors.As(err, &se) && (se.FxCode() == sftp.ErrSSHFxPermissionDenied || se.Code == fxWriteProtect)
}

// notExist makes a server's "no such file" answer errors.Is(fs.ErrNotExist).
func notExist(err error) error {
	if isNotExist(err) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (%v)", fs.ErrNotExist, err)
	}
	return err
}
