package exchange

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/crash"
	"github.com/exchanged/exchanged/ledger"
)

// output returns the staged name that destination i receives, or for
// rejectsIndex the reject report's.
func (rn *run) output(f *ledger.File, i int) string {
	if i == rejectsIndex {
		return rejectsName
	}
	return OutputName(rn.cfg, rn.job, f.Name, i)
}

// OutputName returns the staged name (see Staging.Path) that destination
// i of job receives of the file staged from source name name.
func OutputName(cfg *config.Config, job *config.Job, name string, i int) string {
	d := job.Destinations[i]
	ext := ""
	if d.PGP != nil {
		ext = d.PGP.Ext() // encrypted to the partner (see pgp.go)
	}
	if job.Transform == nil {
		if !needsOutput(job, d) {
			return name // files pass unchanged: every destination gets the staged copy
		}
		return fmt.Sprintf(".out-%d-%s%s", i, d.Partner, ext)
	}
	// Named by what it was made for (hidden, so that no source name can
	// collide with it): if the job's destinations change between prepare
	// and delivery, the output is not found rather than sent elsewhere.
	return fmt.Sprintf(".out-%d-%s-%s.csv%s", i, d.Partner, cfg.ProfileFor(job, d), ext)
}

// deliverAll delivers f to every destination that does not have it yet.
// A destination that fails does not stop the others; f stays staged until
// every one has it. Without a cluster, nothing lies between f's last
// delivery and its record as done (a cluster cleans the source first):
// when every delivery before it succeeded, that delivery records f done
// too (f.State becomes StateDone), and its staged copy is removed after
// (finish).
func (rn *run) deliverAll(ctx context.Context, f *ledger.File) error {
	have, superseded, err := rn.deliveriesOf(f)
	if err != nil {
		return err
	}
	type output struct {
		i    int
		dest *config.Destination
		what string
	}
	outs := make([]output, 0, len(rn.job.Destinations)+1)
	for i, dest := range rn.job.Destinations {
		outs = append(outs, output{i, dest, "destination " + strconv.Itoa(i)})
	}
	var errs []error
	if rn.job.Rejects != nil {
		// Only a report certainly absent is none to deliver: a file is
		// not done while its report may stand undelivered.
		if _, err := os.Stat(rn.staging.Path(f.ID, rejectsName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &deliveryError{Partner: rn.job.Rejects.Partner, what: "reject report", err: err})
		} else if err == nil {
			outs = append(outs, output{rejectsIndex, rn.job.Rejects, "reject report"})
		}
	}
	last := -1 // the last output still to deliver
	for k, o := range outs {
		// One delivered to another destination than the job now names
		// at its index is not this one's: it fails below, and the file
		// must not be done before it.
		if d := have[o.i]; d == nil || d.State != ledger.DeliveryDelivered ||
			!ledger.SameDestination(d.Partner, d.Dir, o.dest.Partner, o.dest.Dir) {
			last = k
		}
	}
	for k, o := range outs {
		done := k == last && len(errs) == 0 && rn.cfg.Cluster == nil
		if err := rn.deliver(ctx, f, o.i, o.dest, have[o.i], superseded, done); err != nil {
			if endpoint.IsFatal(err) {
				return err
			}
			errs = append(errs, &deliveryError{Partner: o.dest.Partner, what: o.what, err: err})
		}
	}
	return errors.Join(errs...)
}

// deliveriesOf returns every delivery of f, in one query: the current
// ones by index, to resume, and those a retry superseded, which a fresh
// one must not repeat (see notSupersededHere).
func (rn *run) deliveriesOf(f *ledger.File) (map[int]*ledger.Delivery, []ledger.Delivery, error) {
	all, err := rn.ledger.AllDeliveries(f.ID)
	if err != nil {
		return nil, nil, err
	}
	have := map[int]*ledger.Delivery{}
	var superseded []ledger.Delivery
	for i := range all {
		if all[i].SupersededAt.IsZero() {
			have[all[i].Index] = &all[i]
		} else {
			superseded = append(superseded, all[i])
		}
	}
	return have, superseded, nil
}

// deliveryError is the failure of one destination of a file.
type deliveryError struct {
	Partner string // the destination's partner
	what    string
	err     error
}

func (e *deliveryError) Error() string { return fmt.Sprintf("%s (%s): %v", e.what, e.Partner, e.err) }
func (e *deliveryError) Unwrap() error { return e.err }

// failedDestinations returns the partners of the destinations that err
// (from deliverAll) names as failed, each once.
func failedDestinations(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if d, ok := err.(*deliveryError); ok {
			if !slices.Contains(out, d.Partner) {
				out = append(out, d.Partner)
			}
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// deliver takes one output of f to one destination. The delivery is
// recorded first, before any byte leaves: from then on the ledger counts
// it as disclosed to the partner (sent), and as confirmed once delivered.
// Then, by the destination's upload mode: temp uploads under a temporary
// name, checks the size, records "uploaded" and renames to the final name;
// direct records "creating" just before it creates the final name and
// "writing" once it has, writes it and records "uploaded". Then the
// sidecars, and "delivered". Resuming a delivery after a crash uses those
// records to neither lose nor repeat it. superseded are f's deliveries
// that a retry superseded (see notSupersededHere). If done, f is recorded
// done with the delivery (see deliverAll).
func (rn *run) deliver(ctx context.Context, f *ledger.File, i int, dest *config.Destination, d *ledger.Delivery, superseded []ledger.Delivery, done bool) error {
	// The destination first: a delivery finished for another partner or
	// directory than the job now names at its index is not this one's.
	if d != nil && !ledger.SameDestination(d.Partner, d.Dir, dest.Partner, dest.Dir) {
		if d.State == ledger.DeliveryDelivered {
			return endpoint.Permanent(fmt.Errorf("%w: output %d was delivered to %s:%s (delivery %d), the job now names %s:%s; which of them still needs it cannot be told: \"exchanged files abandon %d\" and drop the source again",
				ErrDestinationChanged, i, d.Partner, d.Dir, d.ID, dest.Partner, dest.Dir, f.ID))
		}
		return endpoint.Permanent(fmt.Errorf("%w: delivery %d began for %s:%s, the job now names %s:%s; \"exchanged files retry %d\" gives it a fresh delivery",
			ErrDestinationChanged, d.ID, d.Partner, d.Dir, dest.Partner, dest.Dir, f.ID))
	}
	if d != nil && d.State == ledger.DeliveryDelivered {
		return nil
	}
	if d == nil {
		if err := rn.notSupersededHere(f, i, dest, superseded); err != nil {
			return err
		}
	}
	if want := deliveredName(rn.job, dest, f.Name); d != nil && i != rejectsIndex && d.Name != want {
		// The destination's pgp: changed (a reload): what is staged for it
		// now is not what the delivery recorded (name, sha256, size).
		return endpoint.Permanent(fmt.Errorf("%w: delivery %d began as %s, the job now delivers the file as %s (its pgp: changed); \"exchanged files retry %d\" gives it a fresh delivery",
			ErrDestinationChanged, d.ID, d.Name, want, f.ID))
	}
	if rn.job.Transform != nil && i != rejectsIndex {
		// The privacy rule once more, just before the file leaves.
		if _, err := profileFor(rn.cfg, rn.job, dest); err != nil {
			return err
		}
	}
	start := rn.Now()
	ep, err := rn.endpoint(dest.Partner)
	if err != nil {
		return err
	}
	local, name := rn.output(f, i), reportName(plainName(rn.job, f.Name))
	if i != rejectsIndex {
		name = deliveredName(rn.job, dest, f.Name)
	}
	lf, err := rn.staging.Open(f.ID, local)
	if errors.Is(err, fs.ErrNotExist) && i != rejectsIndex {
		return endpoint.Permanent(fmt.Errorf("exchange: file %d has no staged output for destination %d (%s) as the job now names it: it was prepared under another config (the destination's pgp: or profile changed since); restore that config, or \"exchanged files abandon %d --reason ...\" and have the file dropped again",
			f.ID, i, dest.Partner, f.ID))
	}
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := rn.sameAsBegun(f, d, lf); err != nil {
		return err
	}
	fresh := d == nil
	final := name
	if !fresh {
		final = d.Name
	}
	unlock, err := rn.lockName(ctx, dest.Partner, join(dest.Dir, final))
	if err != nil {
		return err
	}
	defer unlock()
	if fresh {
		if d, err = rn.startDelivery(f, i, dest, name, lf, lf.Size()); err != nil {
			return err
		}
	}
	pl := rn.log.With(zap.String("partner", dest.Partner), zap.String("endpoint", ep.String()))
	x := &delivery{run: rn, ep: ep, pl: pl, l: pl.With(zap.String("file", join(dest.Dir, d.Name))),
		dest: dest, d: d, lf: lf, size: lf.Size(), fresh: fresh}
	if err := x.send(ctx); err != nil {
		return err
	}
	if err := x.sidecars(ctx); err != nil {
		return x.explain(err)
	}
	// The file's transformed step rode with this delivery's start, or one
	// before it (startDelivery): f.State is recorded.
	if done && !rn.unrecorded {
		if err := rn.ledger.MarkDeliveredDone(d.ID, lf.Size(), d.SHA256, rn.Now(), f.ID); err != nil {
			return err
		}
		f.State = ledger.StateDone
	} else if err := rn.ledger.MarkDelivered(d.ID, lf.Size(), d.SHA256, rn.Now()); err != nil {
		return err
	}
	rn.tally(func(r *Result) { r.Delivered++ })
	dur := rn.Now().Sub(start)
	x.l.Info("file delivered", zap.Int64("bytes", lf.Size()), zap.String("sha256", d.SHA256),
		zap.String("upload", d.Mode), zap.Duration("duration", dur), zap.String("outcome", "delivered"))
	rn.observe(Event{Job: rn.job.Name, Partner: dest.Partner, Step: "deliver", Outcome: "ok", Bytes: lf.Size(), Duration: dur})
	crash.At("delivered")
	return nil
}

// notSupersededHere refuses a fresh delivery of output i of f to dest
// when a retry superseded one to that very destination under the same
// name (the config came back to it, or names it spelled otherwise, "/in/"
// for "/in"): what the old one left there is not known, and a second copy
// must not be sent on top of it. Under another name (an OpenPGP extension
// added or dropped) the fresh delivery goes ahead: what the old one may
// have left was reported and recorded by the retry. superseded are f's
// deliveries that a retry superseded.
func (rn *run) notSupersededHere(f *ledger.File, i int, dest *config.Destination, superseded []ledger.Delivery) error {
	for _, o := range superseded {
		// Any index: destinations swapped by a retry bring a superseded
		// destination back under another index.
		if ledger.SameDestination(o.Partner, o.Dir, dest.Partner, dest.Dir) &&
			o.Name == DeliveredName(rn.job, i, f.Name) {
			return endpoint.Permanent(fmt.Errorf("%w: delivery %d to %s:%s was superseded by a retry, and the job names that destination again; it may hold %s: have the partner check it, then \"exchanged files abandon %d\" and drop the source again",
				ErrDestinationChanged, o.ID, o.Partner, o.Dir, ledger.MayHold(o), f.ID))
		}
	}
	return nil
}

// startDelivery records delivery i of f, of the staged output lf of size
// bytes, to dest under name, before any byte leaves: from then on the
// ledger counts it as disclosed to the partner.
func (rn *run) startDelivery(f *ledger.File, i int, dest *config.Destination, name string, lf *StagedFile, size int64) (*ledger.Delivery, error) {
	sum := f.SHA256 // files that pass unchanged are the staged copy
	if rn.job.Transform != nil || rn.output(f, i) != f.Name {
		var err error
		if sum, err = hashFile(lf); err != nil {
			return nil, err
		}
	}
	d := &ledger.Delivery{FileID: f.ID, Index: i, Partner: dest.Partner, Dir: dest.Dir, Name: name,
		Mode: ledger.ModeDirect, Size: size, SHA256: sum}
	if dest.UploadMode() != config.UploadDirect {
		d.Mode, d.TempName = ledger.ModeTemp, tempName(f.ID, i)
	}
	if !rn.unrecorded {
		if _, err := rn.ledger.StartDelivery(d); err != nil {
			return nil, err
		}
		return d, nil
	}
	// The first delivery of a file whose transformed step is not recorded
	// yet (see run.transformed): both in one write.
	if _, err := rn.ledger.StartTransformedDelivery(d, true); err != nil {
		return nil, err
	}
	rn.unrecorded, f.State = false, ledger.StateTransformed
	crash.At("transformed")
	return d, nil
}

// lockName waits until no other worker of the run delivers to the final
// name p at partner, and takes it until unlock is called. Two outputs of
// one run can share a final name (the reject reports of claims.csv and
// claims.txt are both claims.rejects.csv), and their deliveries must not
// take what the other leaves there for their own.
func (rn *run) lockName(ctx context.Context, partner, p string) (unlock func(), err error) {
	key := partner + "\x00" + p
	rn.mu.Lock()
	if rn.names == nil {
		rn.names = map[string]chan struct{}{}
	}
	ch := rn.names[key]
	if ch == nil {
		ch = make(chan struct{}, 1)
		rn.names[key] = ch
	}
	rn.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// delivery is one delivery under way: what deliver's steps share.
type delivery struct {
	*run
	ep    endpoint.Endpoint
	pl    *zap.Logger // with partner and endpoint
	l     *zap.Logger // pl with the final name as file
	dest  *config.Destination
	d     *ledger.Delivery
	lf    *StagedFile // the staged output
	size  int64
	fresh bool // started by this call: nothing of it is at the partner yet
	// notFinal is set by viaTemp when the file is known never to have
	// stood under its final name: not uploaded before, or its temp file
	// seen there still. Only then may it be written again in direct mode.
	notFinal bool
	// budgeted is set while direct holds the transfer budget for write.
	budgeted bool
}

func (x *delivery) final() string { return join(x.dest.Dir, x.d.Name) }
func (x *delivery) temp() string  { return join(x.dest.Dir, x.d.TempName) }

// send brings the file under its final name: in the mode the delivery was
// begun in, or, where the destination was changed to direct since, in
// direct mode once the file is known not to stand under its final name.
func (x *delivery) send(ctx context.Context) error {
	direct := x.dest.UploadMode() == config.UploadDirect
	if x.d.Mode == ledger.ModeDirect {
		return x.direct(ctx)
	}
	if direct && x.d.State == ledger.DeliveryStarted {
		// Begun in temp mode, and the destination is now direct: the
		// temp file never became the final one.
		if err := x.toDirect(ctx); err != nil {
			return err
		}
		return x.direct(ctx)
	}
	err := x.viaTemp(ctx)
	if direct && errors.As(err, new(*endpoint.RefusedError)) && x.notFinal {
		// Uploaded in temp mode, and the partner refuses what temp mode
		// needs next: finish in the mode the destination now has, if the
		// file is known not to have reached its final name (else it might
		// be delivered twice).
		if err = x.toDirect(ctx); err == nil {
			err = x.direct(ctx)
		}
	}
	return err
}

// viaTemp uploads under the temp name (unless uploaded before) and renames
// to the final name. Uploaded, the temp file is complete: if it is gone,
// our rename happened before a crash and the partner may already have
// taken the file.
func (x *delivery) viaTemp(ctx context.Context) error {
	tmp, final := x.temp(), x.final()
	uploaded := false // by this call: the temp file stands, complete
	x.notFinal = x.d.State == ledger.DeliveryStarted
	if x.d.State == ledger.DeliveryStarted {
		// A delivery begun by an earlier run may have left a partial
		// file under its temp name; a new one has a fresh random name.
		if !x.fresh {
			if err := x.ep.Remove(ctx, tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return x.explain(err)
			}
		}
		if err := x.upload(ctx, tmp, true); err != nil {
			return x.explain(err)
		}
		if err := x.ledger.MarkUploaded(x.d.ID); err != nil {
			return err
		}
		x.d.State, uploaded = ledger.DeliveryUploaded, true
		crash.At("uploaded")
	}
	var gone error
	if !uploaded {
		_, gone = x.ep.Stat(ctx, tmp)
		x.notFinal = gone == nil // seen: not renamed yet (or linked only)
	}
	if gone == nil {
		if err := x.rename(ctx, tmp, final, uploaded); err != nil {
			return err
		}
		crash.At("renamed")
	} else if errors.As(gone, new(*endpoint.RefusedError)) {
		return x.mayStand(gone)
	} else if !errors.Is(gone, fs.ErrNotExist) {
		return x.explain(gone)
	} else if fi, err := x.ep.Stat(ctx, final); err == nil && fi.Size == x.d.Size {
		x.l.Info("delivery resumed", zap.String("outcome", "renamed before restart"))
	} else {
		// The temp file is gone and the final name does not show it: the
		// partner took the file already, or something removed our temp
		// file. Recorded as delivered, loudly, for ops to confirm.
		x.l.Warn("delivery unverified", zap.String("outcome", "unverified"),
			zap.String("error", "temporary file gone and final name absent or of another size after a restart"))
	}
	return nil
}

// rename renames the temp file tmp, seen there or uploaded by this call
// (uploaded), to its final name final. Where final is taken, a delivery
// uploaded before may find there its own file, linked before a crash (see
// linkedBefore), and completes; any other waits.
func (x *delivery) rename(ctx context.Context, tmp, final string, uploaded bool) error {
	err := x.ep.Rename(ctx, tmp, final)
	switch {
	case errors.Is(err, endpoint.ErrOldNameLeft):
		// Delivered under the final name; the temp name is a second
		// name of the same file that the partner would not let go.
		x.tempLeft(tmp, err)
	case errors.Is(err, endpoint.ErrExists) && !uploaded:
		// Uploaded before: a crash between the hard link that made
		// the final name and the removal of the temp name leaves
		// our file under both.
		x.notFinal = false
		ours, err := x.linkedBefore(ctx, tmp, final)
		if err != nil {
			return err
		}
		if !ours {
			return x.taken()
		}
		x.l.Info("delivery resumed", zap.String("outcome", "linked before restart"))
		x.removeTemp(ctx, tmp)
	case errors.Is(err, endpoint.ErrExists):
		return x.taken()
	case err != nil:
		return x.explain(err)
	}
	return nil
}

// taken logs and returns that the final name is another file's: the
// delivery waits until the partner has taken it.
func (x *delivery) taken() error {
	x.l.Warn("delivery waiting", zap.String("outcome", "taken"), zap.String("error", ErrDestinationTaken.Error()))
	return fmt.Errorf("%w: %s", ErrDestinationTaken, x.final())
}

// mayStand returns ErrMayStand, permanent, asking ops to find out, for
// err, a refusal that keeps us from telling whether the file, uploaded
// under its temp name, was renamed to its final name.
func (x *delivery) mayStand(err error) error {
	x.l.Error("delivery unknown", zap.String("outcome", "unknown"), zap.String("error", err.Error()))
	return endpoint.Permanent(fmt.Errorf("%w: %s: %w; ask %s whether %s stands in %s or was taken: if so it was delivered, and it is not sent again while that is unknown (allowing a stat of %s there lets the delivery finish)",
		ErrMayStand, x.final(), err, x.dest.Partner, x.d.Name, x.dest.Dir, x.d.TempName))
}

// linkedBefore reports whether final, found taken when a delivery
// uploaded before renames its temp file tmp, is that file under a second
// name, left by a crash between the link and the removal of tmp: it holds
// the delivery's bytes (its size and sha256). Where the partner refuses
// reading it, lstat must show it alike to tmp (SameFile): taken for one
// file only here, where tmp is ours and complete and a link of ours may
// have been made. Where neither is allowed, the answer is no: the
// delivery waits as for another file.
func (x *delivery) linkedBefore(ctx context.Context, tmp, final string) (bool, error) {
	want := x.d.SHA256
	if want == "" {
		var err error
		if want, err = hashFile(x.lf); err != nil {
			return false, err
		}
	}
	r, err := x.ep.Open(ctx, final)
	if err == nil {
		h := sha256.New()
		n, err := copyContext(ctx, h, r, r.Abort)
		r.Close()
		if err != nil {
			return false, err
		}
		return n == x.d.Size && hex.EncodeToString(h.Sum(nil)) == want, nil
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, endpoint.ErrNotRegular):
		return false, nil
	case !errors.As(err, new(*endpoint.RefusedError)) && !errors.Is(err, fs.ErrPermission):
		return false, err
	}
	m, ok := x.ep.(sameFiler)
	if !ok {
		return false, nil
	}
	same, serr := m.SameFile(ctx, tmp, final)
	if errors.Is(serr, errors.ErrUnsupported) { // a wrapper's, over an endpoint without it
		return false, nil
	}
	x.l.Info("final file not readable", zap.String("outcome", "compared by metadata"), zap.String("error", err.Error()))
	if err = serr; errors.As(err, new(*endpoint.RefusedError)) {
		x.l.Warn("final file not comparable", zap.String("outcome", "taken"), zap.String("error", err.Error()))
		return false, nil
	}
	return same, err
}

// toDirect turns a temp-mode delivery that has not reached its final name
// into a direct one, for a destination whose mode was changed to direct:
// its temp file is removed (reported if the partner refuses) and the
// delivery recorded as started again, in direct mode.
func (x *delivery) toDirect(ctx context.Context) error {
	x.l.Info("delivery mode changed", zap.String("outcome", "direct"), zap.String("state", x.d.State))
	x.removeTemp(ctx, x.temp())
	if err := x.ledger.RestartDelivery(x.d.ID, ledger.ModeDirect); err != nil {
		return err
	}
	x.d.Mode, x.d.State = ledger.ModeDirect, ledger.DeliveryStarted
	return nil
}

// direct writes the file under its final name, created exclusively, with
// no stat, list, rename or remove: what a write-only drop folder allows.
// It is recorded as creating just before the create is sent, and as
// writing once created, so that a resume knows the file under the final
// name is ours and may be partial: it removes it and writes it again, or,
// if the partner refuses the removal, fails with ErrPartialLeft. Never is
// such a file recorded as delivered.
func (x *delivery) direct(ctx context.Context) error {
	switch x.d.State {
	case ledger.DeliveryStarted, ledger.DeliveryCreating, ledger.DeliveryWriting:
	default:
		return nil // uploaded: only the sidecars are left
	}
	// The budget before the create (see write): waiting for it after
	// would leave an empty file standing under the final name meanwhile.
	// Connected first, so that no budget is held while the connection
	// waits for a slot (max_conns) that a run waiting for budget holds.
	if err := x.ep.Connect(ctx); err != nil {
		return err
	}
	release, err := x.budget.take(ctx, x.size)
	if err != nil {
		return err
	}
	defer release()
	x.budgeted = true
	defer func() { x.budgeted = false }()
	// Every chunk authenticated before the first byte leaves: a chunk
	// failing halfway would leave a partial file under the final name.
	if err := x.lf.Verify(); err != nil {
		return err
	}
	final := x.final()
	var left error // the removal of our partial file, refused
	if x.d.State == ledger.DeliveryWriting {
		if left, err = x.removePartial(ctx, final); err != nil {
			return err
		}
	}
	w, err := x.create(ctx, final, left)
	if err != nil {
		return err
	}
	if x.d.State != ledger.DeliveryWriting {
		if err := x.ledger.MarkWriting(x.d.ID); err != nil {
			w.Close()
			x.removeTemp(ctx, final) // empty, and ours
			return err
		}
		x.d.State = ledger.DeliveryWriting
	}
	if err := x.write(ctx, w, final, false); err != nil {
		return x.explain(err)
	}
	if err := x.ledger.MarkUploaded(x.d.ID); err != nil {
		return err
	}
	x.d.State = ledger.DeliveryUploaded
	crash.At("uploaded")
	return nil
}

// removePartial removes final, where a direct delivery resumed while
// writing left its file, maybe partial: ours, if it looks so where a stat
// is allowed (else the destination is taken). Removed first: a write-only
// server may not say that a name is taken. A removal the partner refuses
// is returned as left, for create to report.
func (x *delivery) removePartial(ctx context.Context, final string) (left, err error) {
	if fi, err := x.ep.Stat(ctx, final); err == nil && !x.partialOfOurs(fi) {
		return nil, x.taken()
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.As(err, new(*endpoint.RefusedError)) {
		return nil, x.explain(err)
	}
	switch err := x.ep.Remove(ctx, final); {
	case err == nil:
		x.l.Warn("partial file removed", zap.String("outcome", "rewriting"))
	case errors.As(err, new(*endpoint.RefusedError)):
		return err, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return nil, nil
}

// create creates final exclusively for a direct delivery, recorded as
// creating just before the create is sent (unless it is writing already)
// and as started again when the answer is that the name is taken or the
// create refused. A delivery resumed with its create unanswered removes
// and creates again an empty file it may have made (see emptyOfOurs).
// left is the removal of a partial file of ours the partner refused: it
// fails the delivery, permanently, if final cannot be created.
func (x *delivery) create(ctx context.Context, final string, left error) (endpoint.WriteFile, error) {
	// Resumed with its create sent and unanswered: the file under the
	// final name may be the one that create made.
	resumed := !x.fresh && x.d.State == ledger.DeliveryCreating
	if x.d.State == ledger.DeliveryStarted {
		if err := x.ledger.MarkCreating(x.d.ID); err != nil {
			return nil, err
		}
		x.d.State = ledger.DeliveryCreating
	}
	w, err := x.ep.Create(ctx, final)
	if errors.Is(err, endpoint.ErrExists) && resumed && x.emptyOfOurs(ctx, final) {
		// Created by us just before a crash, before it was recorded as
		// writing: no byte was written to it yet.
		if rerr := x.ep.Remove(ctx, final); rerr == nil {
			x.l.Warn("empty file removed", zap.String("outcome", "rewriting"))
			w, err = x.ep.Create(ctx, final)
		}
	}
	if x.d.State == ledger.DeliveryCreating && (errors.Is(err, endpoint.ErrExists) || errors.As(err, new(*endpoint.RefusedError))) {
		// Answered: our create made no file. A later run must not take
		// what stands there for one it made.
		if rerr := x.ledger.RestartDelivery(x.d.ID, ledger.ModeDirect); rerr != nil {
			return nil, rerr
		}
		x.d.State = ledger.DeliveryStarted
	}
	switch {
	case err == nil:
		return w, nil
	case left != nil:
		// The partner holds what may be a partial file of ours and keeps
		// it. (If it took the file meanwhile, Create succeeded.)
		x.l.Error("partial file left", zap.String("outcome", "left at partner"), zap.String("error", left.Error()))
		return nil, endpoint.Permanent(fmt.Errorf("%w: %s: %w; ask %s to remove it: the next run writes it whole",
			ErrPartialLeft, final, left, x.dest.Partner))
	case errors.Is(err, endpoint.ErrExists):
		// Not ours: an earlier file under that name, not yet taken.
		return nil, x.taken()
	default:
		return nil, x.explain(err)
	}
}

// clockSkew is how far a partner's clock may be behind ours for a file it
// stamps to count as made after a delivery began.
const clockSkew = time.Minute

// emptyOfOurs reports whether the file at p, found where a direct
// delivery resumed with its create unanswered would create its file, is
// what a crash between our create and its record leaves: a regular file,
// empty, made after the delivery began, and no other delivery of ours to
// that name since (or still under way) that could have left it. An
// earlier file of the partner's is older, and holds data; a server that
// allows no stat tells nothing, and the answer is no.
func (x *delivery) emptyOfOurs(ctx context.Context, p string) bool {
	since := x.d.StartedAt.Add(-clockSkew)
	fi, err := x.ep.Stat(ctx, p)
	if err != nil || !fi.IsRegular() || fi.Size != 0 || fi.ModTime.Before(since) {
		return false
	}
	others, err := x.ledger.DeliveriesTo(x.d.Partner, x.d.Dir, x.d.Name, since)
	if err != nil {
		x.l.Warn("empty file kept", zap.String("outcome", "taken"), zap.String("error", err.Error()))
		return false
	}
	for _, o := range others {
		if o.ID != x.d.ID {
			return false
		}
	}
	return true
}

// partialOfOurs reports whether fi, found under the final name of a direct
// delivery resumed while writing, may be what the interrupted upload
// left: a regular file no larger than ours, made after the delivery began.
func (x *delivery) partialOfOurs(fi endpoint.FileInfo) bool {
	return fi.IsRegular() && fi.Size <= x.d.Size && !fi.ModTime.Before(x.d.StartedAt.Add(-clockSkew))
}

// upload creates p exclusively and writes the staged output to it (see
// write).
func (x *delivery) upload(ctx context.Context, p string, verify bool) error {
	w, err := x.ep.Create(ctx, p)
	if err != nil {
		return err
	}
	return x.write(ctx, w, p, verify)
}

// write writes the staged output to w, created as p, syncs and closes it,
// and checks the bytes written and, if verify, the size the server
// reports. On any failure p is removed, so that no short file can later
// pass for a whole one; one the partner will not let go is reported. The
// bytes move within the transfer budget (budget.go), held until w is
// closed (unless the caller holds it: budgeted): a ctx ended while
// waiting for it fails the write as one ended during the copy does.
func (x *delivery) write(ctx context.Context, w endpoint.WriteFile, p string, verify bool) error {
	release, err := func() {}, error(nil)
	if !x.budgeted {
		release, err = x.budget.take(ctx, x.size)
	}
	var n int64
	if err == nil {
		defer release()
		_, err = x.lf.Seek(0, io.SeekStart)
	}
	if err == nil {
		n, err = copyContext(ctx, w, crash.Reader("uploading", x.lf, x.size), w.Abort, func() { x.lf.Close() })
	}
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != x.size {
		err = fmt.Errorf("%w: wrote %d of %d bytes", endpoint.ErrSizeMismatch, n, x.size)
	}
	if err == nil && verify {
		var fi endpoint.FileInfo
		if fi, err = x.ep.Stat(ctx, p); err == nil && fi.Size != x.size {
			err = fmt.Errorf("%w: server has %d of %d bytes", endpoint.ErrSizeMismatch, fi.Size, x.size)
		}
	}
	if err != nil {
		x.removeTemp(ctx, p)
		return fmt.Errorf("upload %s: %w", p, err)
	}
	return nil
}

// removeTemp removes p, a file of ours at the partner that must not stay:
// a temporary file, or (direct) a partial one under the final name. One
// that cannot be removed is never left silently: it is logged as an error
// event, with partner and name.
func (x *delivery) removeTemp(ctx context.Context, p string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := x.ep.Remove(rctx, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		x.tempLeft(p, err)
	}
}

// tempLeft logs that our file p stays at the partner.
func (x *delivery) tempLeft(p string, err error) {
	msg := "temporary file not removed"
	if p == x.final() {
		msg = "partial file not removed"
	}
	x.pl.Error(msg, zap.String("file", p), zap.String("outcome", "left at partner"), zap.String("error", err.Error()))
}

// explain adds to a refusal by the partner what ops can do about it.
func (x *delivery) explain(err error) error {
	var re *endpoint.RefusedError
	if !errors.As(err, &re) {
		return err
	}
	if x.d.Mode == ledger.ModeDirect {
		return fmt.Errorf("%w: upload: direct needs %s to allow creating new files in %s (a server that never overwrites may answer so when the name is taken)",
			err, x.dest.Partner, x.dest.Dir)
	}
	return fmt.Errorf("%w: use upload: direct if %s allows only writing new files in %s", err, x.dest.Partner, x.dest.Dir)
}

// sidecars writes the optional checksum file and, last, the done marker,
// each only if missing, so that resuming after a crash repeats nothing.
// In temp mode they are written only while the delivered file still
// stands, each through a temp name; in direct mode under their final
// names, created exclusively, with nothing looked at first.
func (x *delivery) sidecars(ctx context.Context) error {
	dest, final := x.dest, x.final()
	if !dest.Checksum && dest.DoneMarker == "" {
		return nil
	}
	sum := []byte(x.d.SHA256 + "  " + x.d.Name + "\n")
	if x.d.Mode == ledger.ModeDirect {
		if dest.Checksum {
			if err := x.putDirect(ctx, final+".sha256", sum); err != nil {
				return err
			}
		}
		if dest.DoneMarker != "" {
			return x.putDirect(ctx, final+dest.DoneMarker, nil)
		}
		return nil
	}
	if _, err := x.ep.Stat(ctx, final); errors.Is(err, fs.ErrNotExist) {
		// Taken by the partner already: no sidecars, and none of ours
		// half-written by a crash left behind.
		if dest.Checksum {
			x.removeTemp(ctx, sidecarTemp(x.d, final+".sha256", "sha256"))
		}
		if dest.DoneMarker != "" {
			x.removeTemp(ctx, sidecarTemp(x.d, final+dest.DoneMarker, "done"))
		}
		return nil
	}
	if dest.Checksum {
		if err := x.putSmall(ctx, final+".sha256", sidecarTemp(x.d, final+".sha256", "sha256"), sum); err != nil {
			return err
		}
	}
	if dest.DoneMarker != "" {
		if err := x.putSmall(ctx, final+dest.DoneMarker, sidecarTemp(x.d, final+dest.DoneMarker, "done"), nil); err != nil {
			return err
		}
	}
	return nil
}

// putSmall writes a small file p through its temp name tmp, unless p
// exists. The temp name is the delivery's own, so that a resumed delivery
// replaces what a crash left under it instead of leaving it, and removes
// it when p stands (a crash between the link that made p and the removal
// of tmp leaves both).
func (x *delivery) putSmall(ctx context.Context, p, tmp string, data []byte) error {
	if _, err := x.ep.Stat(ctx, p); err == nil {
		if !x.fresh {
			x.removeTemp(ctx, tmp)
		}
		return nil
	}
	w, err := x.ep.Create(ctx, tmp)
	if errors.Is(err, endpoint.ErrExists) { // left by a crash: ours, and maybe partial
		if err = x.ep.Remove(ctx, tmp); err == nil {
			w, err = x.ep.Create(ctx, tmp)
		}
	}
	if err != nil {
		return err
	}
	if err = writeSmall(w, data); err == nil {
		err = x.ep.Rename(ctx, tmp, p)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, endpoint.ErrOldNameLeft):
			x.tempLeft(tmp, err)
			return nil
		case errors.Is(err, endpoint.ErrExists):
			err = nil // written meanwhile: theirs or ours, it stands
		}
	}
	x.removeTemp(ctx, tmp)
	return err
}

// putDirect writes a small file p under its own name, created
// exclusively. If p exists, it stands: written before a crash, or left by
// an earlier delivery of the same name. A crash between its creation and
// its one write can leave a checksum file empty; a done marker is empty
// anyway.
func (x *delivery) putDirect(ctx context.Context, p string, data []byte) error {
	w, err := x.ep.Create(ctx, p)
	if errors.Is(err, endpoint.ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	if err = writeSmall(w, data); err != nil {
		x.removeTemp(ctx, p)
	}
	return err
}

// writeSmall writes data to w in one write, syncs and closes it.
func writeSmall(w endpoint.WriteFile, data []byte) error {
	_, err := w.Write(data)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// tempPrefix begins every temporary name of this version.
const tempPrefix = ".exchanged-"

// shortTemp matches the temporary names tempName makes, and no name of an
// earlier version (".NAME.HEX.part", whose NAME may begin "exchanged-").
var shortTemp = regexp.MustCompile(`^\.exchanged-\d+-(\d+|r)-[0-9a-f]{8}\.part$`)

// tempName returns the temporary name of output idx (or "r", the reject
// report) of file fileID: hidden, so that partners' pickup patterns skip
// it; short and of one length whatever the final name, so that any name
// that fits the partner's file system fits; naming the file it belongs to,
// for ops; and random, so that it never collides with a stale one or
// another instance's.
func tempName(fileID int64, idx int) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	out := strconv.Itoa(idx)
	if idx == rejectsIndex {
		out = "r"
	}
	return fmt.Sprintf("%s%d-%s-%s.part", tempPrefix, fileID, out, hex.EncodeToString(b[:]))
}

// sidecarTemp is the temp name of sidecar p (kind "sha256" or "done") of
// temp-mode delivery d: derived from d's temp name, so that what a crash
// left under it is found again, and as short. A delivery recorded by a
// version before short temp names has its sidecars' temp names of then.
func sidecarTemp(d *ledger.Delivery, p, kind string) string {
	dir, name := path.Split(p)
	if shortTemp.MatchString(d.TempName) {
		return join(dir, strings.TrimSuffix(d.TempName, ".part")+"-"+kind+".part")
	}
	return join(dir, fmt.Sprintf(".%s.%d-sidecar.part", name, d.ID))
}

// hashFile returns the hex sha256 of f's contents and rewinds it.
func hashFile(f io.ReadSeeker) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyContext copies like io.Copy (keeping its ReaderFrom and WriterTo fast
// paths, which the SFTP endpoint uses for concurrent transfers) and stops
// when ctx ends by calling each of abort, which cut the copy's sides
// short (endpoint.ReadFile's and WriteFile's Abort, a staged file's).
// Cancelled, it returns only once every abort has returned: a staged
// copy's Abort removes the file, which must be gone when the caller looks.
func copyContext(ctx context.Context, w io.Writer, r io.Reader, abort ...func()) (int64, error) {
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(aborted)
		for _, a := range abort {
			a()
		}
	})
	n, err := io.Copy(w, r)
	if !stop() {
		<-aborted
		return n, ctx.Err() // cancelled: both sides were closed under the copy
	}
	return n, err
}
