package exchange

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/seal"
	"github.com/exchanged/exchanged/internal/writeback"
)

// Staging modes: nobody but the daemon's user may read what rests here.
const (
	stagingDirMode  = 0o700
	stagingFileMode = 0o600
)

// Staging is the local area where a file rests between pull and delivery,
// 0700 and holding 0600 files. A source file's copy is <id>.src in the
// staging directory itself (id is its ledger id): no directory to make and
// remove for each of the many small files a job may move, and a name that
// does not grow with the source's, so that every name a source may hold
// (up to 255 bytes) can be staged. What the daemon makes from it, its
// outputs and reject report, all named with a leading dot and short, is
// kept in the directory <id>.
//
// Earlier versions kept the source copy as <id>-<name>, and before that as
// <id>/<name>; Adopt moves such a copy to <id>.src.
//
// A staged name stands for a complete file when the ledger says so: a
// source copy once the file is marked staged (Receive), an output once it
// was renamed from its .part name (Create).
//
// Every staged file is sealed under the staging key (see package seal):
// Create and Receive write it sealed, Open reads its plaintext and
// refuses one that fails authentication. What a version before sealing
// staged is sealed in place when the runner starts (SealLegacy).
type Staging struct {
	dir string
	key *seal.Key
}

// OpenStaging creates (0700) or opens the staging directory, tightens its
// mode, and checks that it is writable, so that a read-only or missing
// state_dir fails at startup rather than at the first file. Files are
// sealed under key.
func OpenStaging(dir string, key *seal.Key) (*Staging, error) {
	if key == nil {
		return nil, errors.New("staging: no key")
	}
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
	return &Staging{dir: dir, key: key}, nil
}

// errNoKey is what a Staging from StagingAt answers when asked to seal
// or unseal.
var errNoKey = errors.New("staging: opened without its key, to name and remove files only")

// StagingAt returns the staging directory dir for naming, listing and
// removing staged files (Path, Held, Remove) without its key: Create,
// Receive and Open fail. It creates nothing, so a command that needs no
// file's contents (exchanged files) never generates a staging key.
func StagingAt(dir string) *Staging { return &Staging{dir: dir} }

// Dir returns the staging directory.
func (s *Staging) Dir() string { return s.dir }

// sourceSuffix ends the name of a source file's staged copy, <id>.src.
const sourceSuffix = ".src"

// Path returns where a file's staged name lives: a hidden name (an output,
// a reject report, a mark) is <id>/<name>; any other name is the source
// file's copy, <id>.src, whatever the source name. See Staging.
func (s *Staging) Path(id int64, name string) string {
	if strings.HasPrefix(name, ".") {
		return filepath.Join(s.dir, strconv.FormatInt(id, 10), name)
	}
	return filepath.Join(s.dir, strconv.FormatInt(id, 10)+sourceSuffix)
}

// legacyPaths returns where earlier versions kept the source copy of id
// staged from name: <id>-<name>, then <id>/<name>.
func (s *Staging) legacyPaths(id int64, name string) []string {
	ids := strconv.FormatInt(id, 10)
	return []string{filepath.Join(s.dir, ids+"-"+name), filepath.Join(s.dir, ids, name)}
}

// Staged is a file being written into staging. Commit makes it durable
// under its name; Abort removes what was written unless Commit made it
// stand, so that a deferred Abort is the one cleanup of every failure.
type Staged struct {
	f     *os.File
	final string
	h     hash.Hash // of the plaintext, written by sw's hashing goroutine
	n     int64
	sw    *seal.Writer // seals into f, hashing into h
	done  atomic.Bool  // committed or aborted: Abort does nothing more
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
	if err := endpoint.CheckName(name); err != nil {
		return nil, err
	}
	if s.key == nil {
		return nil, errNoKey
	}
	final := s.Path(id, name)
	if dir := filepath.Dir(final); dir != s.dir {
		if err := os.Mkdir(dir, stagingDirMode); err == nil {
			// The directory's own name must last as long as its files.
			if err := syncDir(s.dir); err != nil {
				return nil, fmt.Errorf("staging: sync dir: %w", diskError(err))
			}
		} else if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("staging: %w", diskError(err))
		}
	}
	// O_TRUNC empties what a crash left; O_NOFOLLOW refuses a symlink.
	f, err := os.OpenFile(final+suffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, stagingFileMode)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", diskError(err))
	}
	// The write-back starts while the file is written, so that Commit's
	// fsync finds little left to write.
	h := sha256.New()
	sw, err := s.key.SealHashed(writeback.New(f), h)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("staging: %w", diskError(err))
	}
	return &Staged{f: f, final: final, h: h, sw: sw}, nil
}

func (st *Staged) Write(p []byte) (int, error) {
	n, err := st.sw.Write(p)
	st.n += int64(n)
	if err != nil {
		err = diskError(err)
	}
	return n, err
}

// ReadFrom stages what it reads from r until io.EOF, read straight into
// the chunks that are sealed (see seal.Writer.ReadFrom): a local source
// is read in large reads and copied once less.
func (st *Staged) ReadFrom(r io.Reader) (int64, error) {
	n, err := st.sw.ReadFrom(r)
	st.n += n
	if err != nil {
		err = diskError(err)
	}
	return n, err
}

// Commit seals the last chunk, fsyncs, renames a .part to its final name
// and fsyncs the directory. It returns the size and the hex sha256 of what
// was written: of the plaintext.
func (st *Staged) Commit() (int64, string, error) {
	if err := st.sw.Close(); err != nil {
		st.Abort()
		return 0, "", fmt.Errorf("staging: %w", diskError(err))
	}
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
	st.done.Store(true) // it stands under its name, synced or not
	if err := syncDir(filepath.Dir(st.final)); err != nil {
		return 0, "", fmt.Errorf("staging: sync dir: %w", err)
	}
	return st.n, hex.EncodeToString(st.h.Sum(nil)), nil
}

// Abort closes and removes what was written. After Commit made the file
// stand, or after an Abort, it does nothing; it may be called from another
// goroutine while Write runs, to cut a copy short.
func (st *Staged) Abort() {
	if !st.done.CompareAndSwap(false, true) {
		return
	}
	st.sw.Abort() // ends its sealing goroutine
	st.f.Close()
	os.Remove(st.f.Name())
}

// StagedFile is a staged file open for reading its plaintext (see
// seal.Reader): Size, Read, Seek, Verify, Close. A failure to
// authenticate, at Open or on a Read, is permanent and wraps
// seal.ErrAuth; no byte of a chunk that fails is returned.
type StagedFile struct {
	*seal.Reader
	id   int64
	name string
}

// Open opens a staged file for reading. A file that fails authentication
// (sealed under another key, changed, truncated, or not sealed) is
// refused: see StagedFile.
func (s *Staging) Open(id int64, name string) (*StagedFile, error) {
	if s.key == nil {
		return nil, errNoKey
	}
	f, err := os.OpenFile(s.Path(id, name), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	sf := &StagedFile{id: id, name: name}
	if sf.Reader, err = s.key.Open(f); err != nil {
		f.Close()
		return nil, sf.explain(err)
	}
	return sf, nil
}

func (sf *StagedFile) Read(p []byte) (int, error) {
	n, err := sf.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = sf.explain(err)
	}
	return n, err
}

// Verify reads the whole file unless read whole already, so that a chunk
// failing authentication is found before any byte leaves, and returns to
// the start.
func (sf *StagedFile) Verify() error { return sf.explain(sf.Reader.Verify()) }

// explain names the file in an authentication failure and makes it
// permanent: trying again reads the same bytes.
func (sf *StagedFile) explain(err error) error {
	if !errors.Is(err, seal.ErrAuth) {
		return err
	}
	what := "its copy"
	if strings.HasPrefix(sf.name, ".") {
		what = sf.name
	}
	return endpoint.Permanent(fmt.Errorf("staging: file %d, %s: %w; it stays pending, and nothing of it is delivered (is staging.key the key it was staged under?)",
		sf.id, what, err))
}

// Remove removes everything staged for id, whose source file is name. It
// does not wait for the removal to reach the disk: should a power loss
// bring a file back, the ledger has it done or rejected, and the sweep at
// the next start removes it (Runner.sweepStaging).
//
// A name that is absent is no failure, even on a disk that has turned
// read-only: a staging that failed before it wrote anything leaves
// nothing to remove. A copy staged by an earlier version's layout
// (<id>-<name>) goes too.
func (s *Staging) Remove(id int64, name string) error {
	for _, p := range s.places(id, name) {
		if !present(p) {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("staging: remove what is staged for file %d: %w", id, diskError(err))
		}
	}
	return nil
}

// RemoveMade removes what was made of file id here (its directory <id>/:
// outputs, reject report, marks), keeping its source copy.
func (s *Staging) RemoveMade(id int64) error {
	if err := os.RemoveAll(filepath.Join(s.dir, strconv.FormatInt(id, 10))); err != nil {
		return fmt.Errorf("staging: remove what was made of file %d: %w", id, diskError(err))
	}
	return nil
}

// places returns where staging may hold something of file id staged
// from name: its source copy (where this version and earlier ones keep
// it) and its directory <id>/.
func (s *Staging) places(id int64, name string) []string {
	return []string{s.Path(id, name), s.legacyPaths(id, name)[0], filepath.Join(s.dir, strconv.FormatInt(id, 10))}
}

// Held lists what staging holds of file id staged from name (what Remove
// removes), relative to Dir: the source copy and each entry of <id>/. A
// place that cannot be read is listed with the error.
func (s *Staging) Held(id int64, name string) []string {
	out := []string{}
	for _, p := range s.places(id, name) {
		if !present(p) {
			continue
		}
		fi, err := os.Lstat(p)
		rel, _ := filepath.Rel(s.dir, p)
		if err != nil || !fi.IsDir() {
			if err != nil {
				rel += " (unreadable: " + diskError(err).Error() + ")"
			}
			out = append(out, rel)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			out = append(out, rel+"/ (unreadable: "+diskError(err).Error()+")")
			continue
		}
		for _, e := range ents {
			out = append(out, filepath.Join(rel, e.Name()))
		}
	}
	return out
}

// present reports whether something may stand at p: anything but a
// certain absence (not there, or a name too long to be there) counts, so
// that a failing disk is reported by whoever acts on p.
func present(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENAMETOOLONG)
}

// rejectedMark is the name, in <id>/, of the mark that a file is being
// rejected whole: written before its staged copy is removed, so that a
// missing copy is known to be a rejection in progress and never taken
// for one when it is not.
const rejectedMark = ".rejected"

// MarkRejected durably marks id as being rejected whole.
func (s *Staging) MarkRejected(id int64) error {
	st, err := s.Create(id, rejectedMark)
	if err != nil {
		return err
	}
	_, _, err = st.Commit()
	return err
}

// Rejected reports whether id is marked as being rejected whole.
func (s *Staging) Rejected(id int64) bool {
	_, err := os.Lstat(s.Path(id, rejectedMark))
	return err == nil
}

// Adopt moves the source copy of id staged from name by an earlier version
// (<id>-<name>, or before that <id>/<name>) to where this one looks for it
// (<id>.src), and makes the move durable, so that a file staged before an
// upgrade is delivered after it. It reports whether it moved anything. A
// copy under the new name is kept as it is: an old one beside it is left
// for Remove.
func (s *Staging) Adopt(id int64, name string) (bool, error) {
	if strings.HasPrefix(name, ".") {
		return false, nil
	}
	cur := s.Path(id, name)
	if present(cur) {
		// Staged by this version: a copy an earlier one left under its
		// old name is unused, and plaintext: it goes.
		return false, s.removeLegacy(id, name)
	}
	for _, old := range s.legacyPaths(id, name) {
		if _, err := os.Lstat(old); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENAMETOOLONG) {
			continue // not staged there: by this version, another layout, or not at all
		} else if err != nil {
			return false, fmt.Errorf("staging: adopt file %d: %w", id, err)
		}
		if err := os.Rename(old, cur); err != nil {
			return false, fmt.Errorf("staging: adopt file %d: %w", id, err)
		}
		if err := syncDir(s.dir); err != nil {
			return false, fmt.Errorf("staging: sync dir: %w", err)
		}
		return true, nil
	}
	return false, nil
}

// removeLegacy removes what an earlier version staged for id under its
// old names, beside a copy of this version's.
func (s *Staging) removeLegacy(id int64, name string) error {
	removed := false
	for _, old := range s.legacyPaths(id, name) {
		err := os.Remove(old)
		switch {
		case err == nil:
			removed = true
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENAMETOOLONG):
		default:
			return fmt.Errorf("staging: remove stale copy of file %d: %w", id, diskError(err))
		}
	}
	if removed {
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("staging: sync dir: %w", err)
		}
	}
	return nil
}

// Sweep removes everything staged for the ids that keep says not to keep,
// in one pass over the staging directory, and returns those ids.
func (s *Staging) Sweep(keep func(id int64) (bool, error)) ([]int64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	kept := map[int64]bool{}
	var removed []int64
	for _, e := range ents {
		id, ok := entryID(e.Name())
		if !ok {
			continue
		}
		k, seen := kept[id]
		if !seen {
			if k, err = keep(id); err != nil {
				return removed, err
			}
			kept[id] = k
			if !k {
				removed = append(removed, id)
			}
		}
		if !k {
			if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				return removed, fmt.Errorf("staging: %w", err)
			}
		}
	}
	return removed, nil
}

// IDs returns the ids that have something staged.
func (s *Staging) IDs() ([]int64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	seen := map[int64]bool{}
	var ids []int64
	for _, e := range ents {
		if id, ok := entryID(e.Name()); ok && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// entryID returns the id of a staging entry: <id>, <id>.src, or an
// earlier layout's <id>-<name>.
func entryID(entry string) (int64, bool) {
	end := strings.IndexFunc(entry, func(r rune) bool { return r < '0' || r > '9' })
	digits, rest := entry, ""
	if end >= 0 {
		digits, rest = entry[:end], entry[end:]
	}
	if rest != "" && rest != sourceSuffix && !strings.HasPrefix(rest, "-") {
		return 0, false
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	return id, err == nil && id > 0
}

// syncDir fsyncs directory dir, so that the names in it last; a variable
// so that tests may see which directories were synced.
var syncDir = func(dir string) error {
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
		return endpoint.Permanent(err)
	}
	return err
}

// sealingName is the name, in <id>/, under which SealLegacy writes a
// sealed copy before it replaces the plaintext: removed with the rest of
// <id>/ if a crash leaves it.
const sealingName = ".sealing"

// SealLegacy seals in place what an earlier version staged for id, whose
// source file is name, in plaintext: the source copy and every output and
// report, complete (no .part) and without the sealed header. It returns
// how many files it sealed. The plaintext of each is read, sealed into
// <id>/.sealing, synced and renamed over it, so that a crash leaves the
// plaintext or the sealed file, whole. It must not run while a file of id
// is being written (Runner.sweepStaging calls it for files already
// staged, whose files no run rewrites in place).
//
// An unfinished output (<id>/*.part) that an earlier version left in
// plaintext is removed, not sealed: no run reads a .part, Create replaces
// it with the output written again from the start (a crash resumes by
// making the output again, never by completing a .part), so sealing it
// would only keep personal data longer. So is the source copy when
// copyUnfinished says that it is unfinished (its file is in state
// staging: the next run forgets it and stages the file again from the
// source). Only plaintext goes (seal.IsPlain): what this version is
// writing begins with the sealed header, written first, so that this is
// safe beside runs in flight. It returns how many files it removed.
//
// A file staged in plaintext that happens to begin with the sealed
// header ("exchanged-seal/1") is taken for sealed and fails
// authentication when read: pending, and said so, never delivered wrong.
func (s *Staging) SealLegacy(id int64, name string, copyUnfinished bool) (sealed, removed int, err error) {
	if strings.HasPrefix(name, ".") {
		return 0, 0, nil
	}
	var complete, unfinished []string
	if copyUnfinished {
		unfinished = append(unfinished, s.Path(id, name))
	} else {
		complete = append(complete, s.Path(id, name))
	}
	dir := filepath.Join(s.dir, strconv.FormatInt(id, 10))
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, fmt.Errorf("staging: seal file %d: %w", id, err)
	}
	for _, e := range ents {
		switch p := filepath.Join(dir, e.Name()); {
		case !e.Type().IsRegular():
		case strings.HasSuffix(e.Name(), ".part"):
			unfinished = append(unfinished, p)
		case e.Name() != sealingName && !copyUnfinished:
			complete = append(complete, p)
		}
	}
	for _, p := range unfinished {
		ok, err := removePlain(p)
		if err != nil {
			return sealed, removed, fmt.Errorf("staging: remove unfinished plaintext of file %d: %w", id, err)
		}
		if ok {
			removed++
		}
	}
	if removed > 0 {
		if err := syncDir(s.dir); err != nil {
			return sealed, removed, fmt.Errorf("staging: sync dir: %w", err)
		}
		if err := syncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return sealed, removed, fmt.Errorf("staging: sync dir: %w", err)
		}
	}
	for _, p := range complete {
		ok, err := s.sealInPlace(id, p)
		if err != nil {
			return sealed, removed, fmt.Errorf("staging: seal file %d: %w", id, err)
		}
		if ok {
			sealed++
		}
	}
	return sealed, removed, nil
}

// removePlain removes the file at p if it holds plaintext (seal.IsPlain),
// and reports whether it did.
func removePlain(p string) (bool, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	plain, err := seal.IsPlain(f)
	f.Close()
	if err != nil || !plain {
		return false, err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, diskError(err)
	}
	return true, nil
}

// sealInPlace seals the staged file at p of id if it is not sealed yet,
// and reports whether it did.
func (s *Staging) sealInPlace(id int64, p string) (bool, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if sealed, err := seal.IsSealed(f); err != nil || sealed {
		return false, err
	}
	st, err := s.Create(id, sealingName)
	if err != nil {
		return false, err
	}
	defer st.Abort()
	if _, err := io.Copy(st, f); err != nil {
		return false, err
	}
	if _, _, err := st.Commit(); err != nil {
		return false, err
	}
	if err := os.Rename(st.final, p); err != nil {
		return false, diskError(err)
	}
	// The rename took the sealed file's name out of <id>/ and, for a
	// source copy, put it in the staging directory: both must last.
	if err := syncDir(filepath.Dir(p)); err != nil {
		return true, err
	}
	if from := filepath.Dir(st.final); from != filepath.Dir(p) {
		return true, syncDir(from)
	}
	return true, nil
}
