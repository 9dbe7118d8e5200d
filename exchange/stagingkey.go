package exchange

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/seal"
	"github.com/exchanged/exchanged/ledger"
)

// stagingKeyFor returns the key that cfg's staging is sealed under (the one
// staging.key names, or else the one generated at first start into
// state_dir/staging.key, mode 0600, beside staging/, not in it), for a
// runner on l. It refuses a key that lacks the key id of a sealed file that
// staging holds for a file l has pending (the rest the start sweeps away;
// the copy of a file in state staging does not count: the next run stages
// it again), and never generates one while such files wait (see
// checkedStagingKey).
func stagingKeyFor(cfg *config.Config, l *ledger.Ledger) (*seal.Key, error) {
	return checkedStagingKey(cfg, func(id int64) (bool, error) {
		f, err := l.File(id)
		if errors.Is(err, ledger.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return f.State != ledger.StateDone && f.State != ledger.StateRejected && f.State != ledger.StateStaging, nil
	})
}

// checkedStagingKey returns cfg's staging key once it is known to open
// every sealed file that staging holds for the ids need names (by the key
// ids in their headers, see Staging.KeyIDs). A key that lacks one of
// those ids is refused, as is a missing state_dir/staging.key while such
// files wait: a key generated then would leave them unreadable for good.
func checkedStagingKey(cfg *config.Config, need func(id int64) (bool, error)) (*seal.Key, error) {
	ids, err := StagingAt(path.Join(cfg.StateDir, "staging")).KeyIDs(need)
	if err != nil {
		return nil, err
	}
	keyPath := path.Join(cfg.StateDir, "staging.key")
	var k *seal.Key
	switch {
	case cfg.Staging.Key.IsSet():
		keyPath = "the key staging.key names"
		if k, err = seal.ParseKey(cfg.Staging.Key.Value); err != nil {
			return nil, fmt.Errorf("staging.key: %w", err)
		}
	case len(ids) > 0:
		k, err = seal.Load(keyPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("staging: %s is missing, and staging holds %s: no new key is generated while sealed files wait; restore %s from a backup, or give those files up (exchanged files --config FILE lists them; exchanged files abandon --config FILE --reason TEXT ID gives one up)",
				keyPath, describeKeyIDs(ids), keyPath)
		}
	default:
		k, err = seal.LoadOrCreate(keyPath)
	}
	if err != nil {
		return nil, err
	}
	lacking := map[string]int{}
	for id, n := range ids {
		if !k.Has(id) {
			lacking[id] = n
		}
	}
	if len(lacking) > 0 {
		return nil, fmt.Errorf("staging: %s lacks a key that staging needs: it holds %s; put that key back (a key file may hold several keys: the first seals, every one opens), or give those files up (exchanged files --config FILE lists them; exchanged files abandon --config FILE --reason TEXT ID gives one up)",
			keyPath, describeKeyIDs(lacking))
	}
	return k, nil
}

// maxKeyIDsNamed bounds how many key ids an error names.
const maxKeyIDsNamed = 8

// describeKeyIDs says how many files are sealed under each key id, the
// commonest first.
func describeKeyIDs(ids map[string]int) string {
	keys := make([]string, 0, len(ids))
	for id := range ids {
		keys = append(keys, id)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(ids[b]-ids[a], strings.Compare(a, b)) })
	var parts []string
	for i, id := range keys {
		if i == maxKeyIDsNamed {
			parts = append(parts, fmt.Sprintf("and files sealed under %d other key ids", len(keys)-i))
			break
		}
		unit := "files"
		if ids[id] == 1 {
			unit = "file"
		}
		parts = append(parts, fmt.Sprintf("%d staged %s sealed under key id %s", ids[id], unit, id))
	}
	return strings.Join(parts, ", ")
}

// KeyIDs returns how many sealed files staging holds under each key id,
// for the ids need says are needed, from their headers alone (nothing is
// decrypted): the source copy and every complete file in <id>/ (not a
// .part, which is written again, nor what SealLegacy left half done).
// A file that is not sealed (plaintext, one being written now) needs no
// key and is not counted.
func (s *Staging) KeyIDs(need func(id int64) (bool, error)) (map[string]int, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	needed := map[int64]bool{}
	out := map[string]int{}
	for _, e := range ents {
		id, ok := entryID(e.Name())
		if !ok {
			continue
		}
		n, seen := needed[id]
		if !seen {
			if n, err = need(id); err != nil {
				return nil, err
			}
			needed[id] = n
		}
		if !n {
			continue
		}
		p := filepath.Join(s.dir, e.Name())
		if e.Type().IsRegular() {
			if err := countKeyID(out, p); err != nil {
				return nil, err
			}
		}
		if !e.IsDir() {
			continue
		}
		sub, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("staging: %w", err)
		}
		for _, f := range sub {
			if !f.Type().IsRegular() || strings.HasSuffix(f.Name(), ".part") || f.Name() == sealingName {
				continue
			}
			if err := countKeyID(out, filepath.Join(p, f.Name())); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// countKeyID counts the key id in the header of the file at p, if it is
// still a regular file and sealed.
func countKeyID(ids map[string]int, p string) error {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
		return nil // removed meanwhile (a run in flight during a reload), or not a file
	}
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return err
	}
	id, ok, err := seal.HeaderKeyID(f)
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	if ok {
		ids[id]++
	}
	return nil
}

// OpensWhatSeals returns an error if r cannot open the files old seals:
// during a reload, runs of old still under way go on staging files
// sealed under old's first key, and r, which takes over, must open them.
// Dropping the key that seals now takes a restart (or listing it after
// the new one until nothing staged needs it).
func (r *Runner) OpensWhatSeals(old *Runner) error {
	if old == nil || old.staging.key == nil || r.staging.key.Has(old.staging.key.ID()) {
		return nil
	}
	return fmt.Errorf("staging.key: the new key lacks key id %s, which seals what runs under way stage now; restart exchanged to drop it, or list it after the new key until no staged file needs it", old.staging.key.ID())
}
