package exchange

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Staging modes: nobody but the daemon's user may read what rests here.
const (
	stagingDirMode  = 0o700
	stagingFileMode = 0o600
)

// Staging is the local area where a file rests between pull and delivery:
// one 0700 directory per file, named by its ledger id, holding 0600 files.
// Every file is written through a .part name, fsynced, renamed and its
// directory fsynced, so a name in staging is always a complete file.
type Staging struct {
	dir string
}

// OpenStaging creates (0700) or opens the staging directory, tightens its
// mode, and checks that it is writable, so that a read-only or missing
// state_dir fails at startup rather than at the first file.
func OpenStaging(dir string) (*Staging, error) {
	if err := os.MkdirAll(dir, stagingDirMode); err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	if err := os.Chmod(dir, stagingDirMode); err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("staging: %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Staging{dir: dir}, nil
}

// Dir returns the staging directory.
func (s *Staging) Dir() string { return s.dir }

// Path returns where a file's staged name lives.
func (s *Staging) Path(id int64, name string) string {
	return filepath.Join(s.dir, strconv.FormatInt(id, 10), name)
}

// Staged is a file being written into staging. Commit makes it durable
// under its name; Abort removes what was written.
type Staged struct {
	f     *os.File
	final string
	h     hash.Hash
	n     int64
	w     io.Writer
}

// Create starts a staged file for id under name, written under a .part
// name until Commit, so that the name only ever stands for a complete
// file. A .part left by a crash is replaced.
func (s *Staging) Create(id int64, name string) (*Staged, error) {
	return s.create(id, name, ".part")
}

// Receive starts a staged file for id written in place under name: for a
// file whose completeness the ledger records (a source file's copy is
// trusted only once marked staged), which spares a rename and makes the
// directory sync cheap. Whatever a crash left under name is replaced.
func (s *Staging) Receive(id int64, name string) (*Staged, error) {
	return s.create(id, name, "")
}

func (s *Staging) create(id int64, name, suffix string) (*Staged, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, strconv.FormatInt(id, 10))
	if err := os.Mkdir(dir, stagingDirMode); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("staging: %w", diskError(err))
	}
	final := filepath.Join(dir, name)
	// O_TRUNC empties what a crash left; O_NOFOLLOW refuses a symlink.
	f, err := os.OpenFile(final+suffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, stagingFileMode)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", diskError(err))
	}
	st := &Staged{f: f, final: final, h: sha256.New()}
	st.w = io.MultiWriter(f, st.h)
	return st, nil
}

func (st *Staged) Write(p []byte) (int, error) {
	n, err := st.w.Write(p)
	st.n += int64(n)
	if err != nil {
		err = diskError(err)
	}
	return n, err
}

// Commit fsyncs, renames a .part to its final name and fsyncs the
// directory. It returns the size and the hex sha256 of what was written.
func (st *Staged) Commit() (int64, string, error) {
	if err := st.f.Sync(); err != nil {
		st.Abort()
		return 0, "", fmt.Errorf("staging: sync: %w", diskError(err))
	}
	if err := st.f.Close(); err != nil {
		st.Abort()
		return 0, "", fmt.Errorf("staging: close: %w", diskError(err))
	}
	if st.f.Name() != st.final {
		if err := os.Rename(st.f.Name(), st.final); err != nil {
			st.Abort()
			return 0, "", fmt.Errorf("staging: %w", err)
		}
	}
	if err := syncDir(filepath.Dir(st.final)); err != nil {
		return 0, "", fmt.Errorf("staging: sync dir: %w", err)
	}
	return st.n, hex.EncodeToString(st.h.Sum(nil)), nil
}

// Abort closes and removes what was written.
func (st *Staged) Abort() {
	st.f.Close()
	os.Remove(st.f.Name())
}

// Open opens a staged file for reading.
func (s *Staging) Open(id int64, name string) (*os.File, error) {
	f, err := os.OpenFile(s.Path(id, name), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	return f, nil
}

// Remove removes everything staged for id. It does not wait for the
// removal to reach the disk: should a power loss bring a file back, the
// ledger has it done or rejected, and the sweep at the next start
// removes it (Runner.sweepStaging).
func (s *Staging) Remove(id int64) error {
	if err := os.RemoveAll(filepath.Join(s.dir, strconv.FormatInt(id, 10))); err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	return nil
}

// IDs returns the ids that have something staged.
func (s *Staging) IDs() ([]int64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	var ids []int64
	for _, e := range ents {
		if id, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && e.IsDir() {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// diskError marks a full or read-only disk as permanent for this attempt:
// retrying at once will not help.
func diskError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EDQUOT) {
		return Permanent(err)
	}
	return err
}
