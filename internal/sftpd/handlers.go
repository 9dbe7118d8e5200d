package sftpd

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

const (
	filePerm = 0o600
	dirPerm  = 0o700
)

// handler implements the pkg/sftp request-server handlers over the OS files under root.
// Every path goes through os.Root, so no client path or symlink leads outside it.
type handler struct {
	root           *os.Root
	readOnly       bool
	noPosixRename  bool
	noHardlink     bool
	deny           []string // kinds of request refused, see Options.Deny
	existsStatus   bool
	renameReplaces bool
	noReadlink     bool
}

// denied returns SSH_FX_PERMISSION_DENIED if requests of kind are denied.
func (h *handler) denied(kind string) error {
	if slices.Contains(h.deny, kind) {
		return sftp.ErrSSHFxPermissionDenied
	}
	return nil
}

// exists turns an EEXIST into SSH_FX_FILE_ALREADY_EXISTS where the server
// answers so (Options.ExistsStatus).
func (h *handler) exists(err error) error {
	if h.existsStatus && errors.Is(err, fs.ErrExist) {
		return fxAlreadyExists
	}
	return err
}

// fxAlreadyExists is the status SSH_FX_FILE_ALREADY_EXISTS: pkg/sftp sends
// the code of an error of its own unexported status type, and names
// constants only up to 8, so the value is made by reflection from one.
var fxAlreadyExists = func() error {
	v := reflect.New(reflect.TypeOf(sftp.ErrSSHFxFailure)).Elem()
	v.SetUint(11)
	return v.Interface().(error)
}()

var (
	_ sftp.FileReader           = (*handler)(nil)
	_ sftp.OpenFileWriter       = (*handler)(nil)
	_ sftp.PosixRenameFileCmder = (*handler)(nil)
	_ sftp.LstatFileLister      = (*handler)(nil)
	_ sftp.ReadlinkFileLister   = (*handler)(nil)
)

// rel turns a client path ("/a/b", cleaned or not) into a path relative to root ("a/b", or
// "." for the root itself). Cleaning an absolute path drops every leading "..".
func rel(p string) string {
	p = path.Clean("/" + p)
	if p == "/" {
		return "."
	}
	return strings.TrimPrefix(p, "/")
}

func (h *handler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	if err := h.denied("read"); err != nil {
		return nil, err
	}
	return openNoFollow(h.root, rel(r.Filepath), os.O_RDONLY, 0)
}

func (h *handler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.openWrite(r, os.O_WRONLY)
}

func (h *handler) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	return h.openWrite(r, os.O_RDWR)
}

// openWrite opens for writing, honouring the request's create, truncate, exclusive and
// append flags. The final path element is never followed if it is a symlink.
func (h *handler) openWrite(r *sftp.Request, mode int) (*writableFile, error) {
	if h.readOnly {
		return nil, sftp.ErrSSHFxPermissionDenied
	}
	pf := r.Pflags()
	flag := mode
	if pf.Creat {
		flag |= os.O_CREATE
	}
	if pf.Trunc {
		flag |= os.O_TRUNC
	}
	if pf.Excl {
		flag |= os.O_EXCL
	}
	if pf.Append {
		// os.File refuses WriteAt on O_APPEND files; writableFile appends with Write.
		flag |= os.O_APPEND
	}
	f, err := openNoFollow(h.root, rel(r.Filepath), flag, filePerm)
	if err != nil {
		return nil, h.exists(err)
	}
	return &writableFile{File: f, append: pf.Append}, nil
}

// writableFile is an open file that ignores write offsets when opened for append, as
// OpenSSH's sftp-server does.
type writableFile struct {
	*os.File
	append bool
}

func (f *writableFile) WriteAt(p []byte, off int64) (int, error) {
	if f.append {
		return f.File.Write(p)
	}
	return f.File.WriteAt(p, off)
}

func (h *handler) Filecmd(r *sftp.Request) error {
	if h.readOnly {
		return sftp.ErrSSHFxPermissionDenied
	}
	name := rel(r.Filepath)
	switch r.Method {
	case "Setstat":
		return h.setstat(r, name)
	case "Rename":
		if err := h.denied("rename"); err != nil {
			return err
		}
		return h.exists(h.rename(name, rel(r.Target)))
	case "Rmdir":
		fi, err := h.root.Lstat(name)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return &fs.PathError{Op: "rmdir", Path: r.Filepath, Err: syscall.ENOTDIR}
		}
		return h.root.Remove(name)
	case "Remove":
		if err := h.denied("remove"); err != nil {
			return err
		}
		fi, err := h.root.Lstat(name)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return &fs.PathError{Op: "remove", Path: r.Filepath, Err: syscall.EISDIR}
		}
		return h.root.Remove(name)
	case "Mkdir":
		return h.root.Mkdir(name, dirPerm)
	case "Link":
		if h.noHardlink {
			return sftp.ErrSSHFxOpUnsupported
		}
		if err := h.denied("link"); err != nil {
			return err
		}
		return h.exists(h.root.Link(name, rel(r.Target)))
	case "Symlink":
		// pkg/sftp puts the link's target, verbatim, in Filepath and the link in Target.
		return h.root.Symlink(r.Filepath, rel(r.Target))
	}
	return sftp.ErrSSHFxOpUnsupported
}

// PosixRename implements posix-rename@openssh.com: rename(2), replacing an existing target
// atomically.
func (h *handler) PosixRename(r *sftp.Request) error {
	if h.noPosixRename {
		return sftp.ErrSSHFxOpUnsupported
	}
	if h.readOnly {
		return sftp.ErrSSHFxPermissionDenied
	}
	if err := h.denied("rename"); err != nil {
		return err
	}
	return h.root.Rename(rel(r.Filepath), rel(r.Target))
}

// rename implements SSH_FXP_RENAME as OpenSSH's sftp-server does: it never replaces an
// existing target. A hard link followed by removing the old name makes that atomic; where
// links fail (directories, some file systems) it checks for the target and renames.
func (h *handler) rename(oldname, newname string) error {
	if h.renameReplaces {
		return h.root.Rename(oldname, newname)
	}
	err := h.root.Link(oldname, newname)
	switch {
	case err == nil:
		if err := h.root.Remove(oldname); err != nil {
			h.root.Remove(newname)
			return err
		}
		return nil
	case errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist):
		return err
	}
	if _, err := h.root.Lstat(newname); err == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.EEXIST}
	}
	return h.root.Rename(oldname, newname)
}

func (h *handler) setstat(r *sftp.Request, name string) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	if flags.Size {
		f, err := openNoFollow(h.root, name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(int64(attrs.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if flags.Permissions {
		if err := h.root.Chmod(name, attrs.FileMode().Perm()); err != nil {
			return err
		}
	}
	if flags.UidGid {
		if err := h.root.Chown(name, int(attrs.UID), int(attrs.GID)); err != nil {
			return err
		}
	}
	if flags.Acmodtime {
		atime, mtime := time.Unix(int64(attrs.Atime), 0), time.Unix(int64(attrs.Mtime), 0)
		if err := h.root.Chtimes(name, atime, mtime); err != nil {
			return err
		}
	}
	return nil
}

func (h *handler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	name := rel(r.Filepath)
	switch r.Method {
	case "List":
		if err := h.denied("list"); err != nil {
			return nil, err
		}
		return h.list(name)
	case "Stat":
		if err := h.denied("stat"); err != nil {
			return nil, err
		}
		fi, err := h.root.Stat(name)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

func (h *handler) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	if err := h.denied("stat"); err != nil {
		return nil, err
	}
	fi, err := h.root.Lstat(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return listerAt{fi}, nil
}

func (h *handler) Readlink(p string) (string, error) {
	if h.noReadlink {
		return "", sftp.ErrSSHFxPermissionDenied
	}
	return h.root.Readlink(rel(p))
}

// list returns the entries of a directory, sorted by name, with Lstat information: a
// symlink is listed as a symlink.
func (h *handler) list(name string) (sftp.ListerAt, error) {
	d, err := h.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	infos := make([]os.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		infos = append(infos, fi)
	}
	slices.SortFunc(infos, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	return listerAt(infos), nil
}

type listerAt []os.FileInfo

func (l listerAt) ListAt(dst []os.FileInfo, offset int64) (int, error) {
	if offset >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[offset:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}
