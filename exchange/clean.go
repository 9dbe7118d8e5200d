package exchange

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/ledger"
)

// cleanSource applies the job's post-action to the source file, now that
// its staged copy is durable and recorded. It is safe to repeat. It returns
// nil only once the post-action is verified done: the file removed, or
// renamed into the move directory, or found gone already (cleaned before a
// restart, or taken by someone else: the staged copy is what counts now),
// or replaced by a new file that is not ours to touch. A failed removal or
// move leaves the file where it is and returns the error; a move into a
// directory that does not exist names the directory.
func (rn *run) cleanSource(ctx context.Context, f *ledger.File) error {
	src := rn.job.Source
	ep, err := rn.endpoint(f.Partner)
	if err != nil {
		return err
	}
	l := rn.fileLog(f).With(zap.String("endpoint", ep.String()))
	p := join(f.Dir, f.Name)
	outcome := "kept"
	if src.After != config.AfterKeep {
		// Clean only the file that was staged: if the creditor has put a
		// new file under the same name since, it is not ours to remove.
		fi, err := ep.Stat(ctx, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			outcome = rn.sourceGone(ctx, ep, f)
		case err != nil:
			return err
		case !fi.IsRegular() || fi.Size != f.Size || !fi.ModTime.Equal(f.ModTime):
			l.Warn("source replaced", zap.String("outcome", "left"), zap.Int64("bytes", fi.Size))
			return nil
		default:
			if outcome, err = rn.clean(ctx, ep, f); err != nil {
				return err
			}
		}
	}
	if m := src.DoneMarker; m != "" {
		if err := ep.Remove(ctx, p+m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	l.Info("source cleaned", zap.String("outcome", outcome))
	return nil
}

// clean applies the job's post-action, delete or move, to the source file
// of f, which is there, and returns the outcome to log.
func (rn *run) clean(ctx context.Context, ep endpoint.Endpoint, f *ledger.File) (string, error) {
	src := rn.job.Source
	p := join(f.Dir, f.Name)
	switch after := src.After; {
	case after == "" || after == config.AfterDelete:
		err := ep.Remove(ctx, p)
		switch {
		case err == nil:
			return "deleted", nil
		case rn.goneNow(ctx, ep, p, err):
			return "gone", nil
		}
		return "", err
	case src.MoveDir() != "":
		dir := src.MoveDir()
		err := ep.Rename(ctx, p, join(dir, f.Name))
		if errors.Is(err, endpoint.ErrExists) {
			// An earlier file of the same name was moved there: keep both.
			err = ep.Rename(ctx, p, join(dir, movedName(f.Name, f.ID)))
		}
		switch {
		case err == nil:
			return "moved", nil
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("exchange: job %s: move source file to %s: %w", rn.job.Name, dir, err)
		case rn.goneNow(ctx, ep, p, err):
			return "gone", nil // taken by someone else between the look and the move
		default:
			// The file is there, so what does not exist is the
			// directory: not moved, and not to be recorded as moved.
			return "", endpoint.Permanent(fmt.Errorf("exchange: job %s: move source file to %s: the directory does not exist: %w",
				rn.job.Name, dir, err))
		}
	default:
		return "", endpoint.Permanent(fmt.Errorf("exchange: job %s: unknown source post-action %q", rn.job.Name, after))
	}
}

// goneNow reports whether err, from removing or moving the file at p,
// means that the file itself is gone: err says "not exist", and a look at
// p confirms it. A "not exist" about anything else (a missing target
// directory) is not taken for done.
func (rn *run) goneNow(ctx context.Context, ep endpoint.Endpoint, p string, err error) bool {
	if !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	_, serr := ep.Stat(ctx, p)
	return errors.Is(serr, fs.ErrNotExist)
}

// sourceGone returns the outcome to log for a source file that is no
// longer there when it is to be cleaned: moved into the move directory
// before a restart, or gone (cleaned before a restart, or taken by someone
// else).
func (rn *run) sourceGone(ctx context.Context, ep endpoint.Endpoint, f *ledger.File) string {
	if dir := rn.job.Source.MoveDir(); dir != "" {
		for _, name := range []string{f.Name, movedName(f.Name, f.ID)} {
			if fi, err := ep.Stat(ctx, join(dir, name)); err == nil && fi.Size == f.Size {
				return "moved before a restart"
			}
		}
	}
	return "gone"
}

// movedName is the name a source file of ledger id is moved under when
// the move directory holds a file of its name already: name.id, with name
// cut short (at a character boundary) if need be to stay within endpoint.MaxName.
func movedName(name string, id int64) string {
	suffix := "." + strconv.FormatInt(id, 10)
	if over := len(name) + len(suffix) - endpoint.MaxName; over > 0 {
		cut := len(name) - over
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	return name + suffix
}
