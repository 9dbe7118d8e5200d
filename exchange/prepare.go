package exchange

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/pgp"
	"github.com/exchanged/exchanged/ledger"
	"github.com/exchanged/exchanged/transform"
)

// rejectsName is the staged name of a file's reject report: hidden, so
// that no source file name (hidden ones are never staged) can collide.
const rejectsName = ".rejects.csv"

// rejectsIndex is the delivery index of the reject report.
const rejectsIndex = -1

// LayoutFor returns the transform layout named name: an entry of the
// config's layouts, or a built-in record layout (claim, payment, status).
func LayoutFor(cfg *config.Config, name string) (transform.Layout, error) {
	cl, ok := cfg.Layouts[name]
	if !ok {
		return transform.BuiltinLayout(name)
	}
	l := transform.Layout{Name: name, Record: cl.Record, Charset: cl.Charset, DateFormat: cl.Date,
		Columns: cl.Columns, Required: cl.Required}
	if cl.Delimiter != "" {
		l.Delimiter, _ = utf8.DecodeRuneInString(cl.Delimiter)
	}
	if cl.Decimal != "" {
		l.Decimal, _ = utf8.DecodeRuneInString(cl.Decimal)
	}
	return l, l.Validate()
}

// profileFor returns the profile destination d of job j receives. The
// partner's role is checked against it once more here, just before a file
// is made for it: config validation is not the only guard.
func profileFor(cfg *config.Config, j *config.Job, d *config.Destination) (transform.Profile, error) {
	name := cfg.ProfileFor(j, d)
	p := cfg.Partners[d.Partner]
	if p == nil || !config.RolePermits(p.Role, name) {
		return transform.Profile{}, endpoint.Permanent(fmt.Errorf("exchange: job %s: partner %s may not receive profile %q", j.Name, d.Partner, name))
	}
	return transform.BuiltinProfile(name)
}

// formatFor returns how destination d wants its file written.
func formatFor(d *config.Destination) (transform.Format, error) {
	if d.Format == nil {
		return transform.Format{}, nil
	}
	f := transform.Format{Charset: d.Format.Charset, DateFormat: d.Format.Date, Header: d.Format.Headers}
	if d.Format.Delimiter != "" {
		f.Delimiter, _ = utf8.DecodeRuneInString(d.Format.Delimiter)
	}
	if d.Format.Decimal != "" {
		f.Decimal, _ = utf8.DecodeRuneInString(d.Format.Decimal)
	}
	return f, f.Validate()
}

// CheckConfig checks what the config package cannot know on its own: that
// every job's layout and profiles can be built by the transform package.
// It touches no endpoint.
func CheckConfig(cfg *config.Config) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(cfg.Jobs)) {
		j := cfg.Jobs[name]
		if j.Transform == nil {
			continue
		}
		if _, err := LayoutFor(cfg, j.Transform.Layout); err != nil {
			errs = append(errs, fmt.Errorf("jobs.%s.transform.layout: %w", name, err))
		}
		for i, d := range j.Destinations {
			if _, err := profileFor(cfg, j, d); err != nil {
				errs = append(errs, fmt.Errorf("jobs.%s.destinations[%d]: %w", name, i, err))
			}
			if _, err := formatFor(d); err != nil {
				errs = append(errs, fmt.Errorf("jobs.%s.destinations[%d].format: %w", name, i, err))
			}
		}
	}
	return errors.Join(errs...)
}

// prepare makes each destination's output in staging: the staged file
// read through the job's layout, validated, and minimized to each
// destination's profile. Bad rows go to a staged reject report. A file
// rejected whole is finished here (errFileRejected). Without a transform
// the staged copy itself is every destination's output. Whatever it
// returns, no output it began is left half-made: the one deferred Abort
// removes every staged file it did not commit.
//
// The outputs' data subjects go to the ledger in batches while the file
// is read, so that memory stays flat; outputs that are discarded take
// theirs with them: on a failure here, on a rejection (finishRejection),
// and, for what an attempt cut short by a crash left, before the file is
// read again.
func (rn *run) prepare(ctx context.Context, f *ledger.File) (err error) {
	return rn.prepareWith(ctx, f, false)
}

// prepareWith is prepare; again says that the outputs are made a second
// time, on a node taking over a file whose deliveries began elsewhere
// (see prepareAgain): the subjects recorded the first time stand (they
// are recorded again, which adds those of an output first made now, a
// destination added since: the same rows are recorded once), the counts
// too, and a verdict other than the first one's (the file rejected whole)
// is an error, never acted on.
func (rn *run) prepareWith(ctx context.Context, f *ledger.File, again bool) (err error) {
	tr := rn.job.Transform
	if tr == nil {
		return nil
	}
	if _, err := os.Stat(rn.staging.Path(f.ID, f.Name)); errors.Is(err, fs.ErrNotExist) {
		if rn.staging.Rejected(f.ID) {
			// A rejection in progress before a restart: finish it (its
			// report, if staged, is delivered first).
			return rn.finishRejection(ctx, f)
		}
		// Not a rejection: the only copy is gone. Say so on every run
		// rather than guess.
		return endpoint.Permanent(fmt.Errorf("exchange: the staged copy of file %d is missing", f.ID))
	}
	layout, err := LayoutFor(rn.cfg, tr.Layout)
	if err != nil {
		return endpoint.Permanent(err)
	}
	if again {
		defer func() {
			if errors.Is(err, errFileRejected) || errors.Is(err, transform.ErrRejected) || errors.Is(err, pgp.ErrRejected) {
				err = endpoint.Permanent(fmt.Errorf("%w: file %d: made again, it was rejected, where the first time it was not", errNotSame, f.ID))
			}
		}()
	} else if _, err := rn.ledger.DropSubjects(f.ID); err != nil {
		return err
	}
	defer func() {
		if !again && err != nil && !errors.Is(err, errFileRejected) {
			if _, derr := rn.ledger.DropSubjects(f.ID); derr != nil {
				// Dropped when the file is prepared again.
				rn.fileLog(f).Warn("subjects not dropped", zap.String("error", derr.Error()))
			}
		}
	}()
	o := &outputs{}
	defer o.abort()
	if err := rn.createOutputs(f, o); err != nil {
		return err
	}
	in, err := rn.staging.Open(f.ID, f.Name)
	if err != nil {
		return err
	}
	defer in.Close()
	r, verify, err := rn.decryptFrom(in, f.Size)
	if errors.Is(err, pgp.ErrRejected) && !again {
		return rn.rejectPGP(ctx, f, o, err)
	} else if err != nil {
		return err
	}
	stats, err := transform.Process(ctx, r, layout, o.outs, o.rejects())
	if err == nil || errors.Is(err, transform.ErrRejected) || errors.Is(err, pgp.ErrRejected) {
		// Nothing made of a file from a partner stands, nor is its
		// transform's verdict trusted, until its signature verified.
		if verr := verify(); again && verr != nil {
			return verr
		} else if errors.Is(verr, pgp.ErrRejected) || errors.Is(err, pgp.ErrRejected) {
			return rn.rejectPGP(ctx, f, o, cmp.Or(verr, err))
		} else if verr != nil {
			return verr
		}
	}
	in.Close()
	l := rn.fileLog(f).With(zap.Int("rows", stats.Rows), zap.Int("rejected", stats.Rejected),
		zap.Int("lines", stats.Lines), zap.Int("blank", stats.Blank))
	if stats.PossibleBSN > 0 {
		// Rows rejected for a BSN in a value: the count, never a value or a line.
		l.Warn("possible bsn in rows", zap.Bool("security", true), zap.Int("possible_bsn", stats.PossibleBSN))
	}
	switch {
	case errors.Is(err, transform.ErrRejected) && !again:
		return rn.rejectWhole(ctx, f, o, stats, l, err)
	case err != nil:
		return err
	}
	if err := o.commit(stats.Rejected > 0); err != nil {
		return err
	}
	if again {
		l.Info("file transformed again", zap.String("outcome", "transformed"))
		return nil
	}
	if err := rn.ledger.SetCounts(f.ID, stats.Rows, stats.Rejected); err != nil {
		return err
	}
	if n := o.creditorUnknown(); n > 0 {
		// Rows whose creditor value names no creditor partner: the count,
		// never a value (see "Whose debtor" in docs/config.md).
		l.Warn("creditor unknown in rows", zap.Int("creditor_unknown", n))
	}
	l.Info("file transformed", zap.String("outcome", "transformed"))
	rn.observe(Event{Job: rn.job.Name, Partner: f.Partner, Step: "transform", Outcome: "ok", Rows: stats.Rows, Rejected: stats.Rejected})
	return nil
}

// outputs are the staged files one prepare writes: each destination's,
// and the reject report if the job has a rejects destination.
type outputs struct {
	staged   []*Staged // one per destination
	rej      *Staged   // nil: the job has no rejects destination
	subjects []*subjectBatch
	outs     []transform.Output
	closers  []func() error // finish each output's encryption (see pgp.go), before commit
}

// abort removes every output not committed.
func (o *outputs) abort() {
	for _, st := range o.staged {
		st.Abort()
	}
	if o.rej != nil {
		o.rej.Abort()
	}
}

// rejects returns where the transform writes bad rows: nil, not a nil
// *Staged, when the job has no rejects destination.
func (o *outputs) rejects() io.Writer {
	if o.rej == nil {
		return nil
	}
	return o.rej
}

// commit records the outputs' data subjects and makes every output stand,
// and the reject report if it holds rows (withRejects); else it is removed.
func (o *outputs) commit(withRejects bool) error {
	for _, c := range o.closers {
		if err := c(); err != nil {
			return err
		}
	}
	for _, s := range o.subjects {
		if err := s.flush(); err != nil {
			return err
		}
	}
	for _, st := range o.staged {
		if _, _, err := st.Commit(); err != nil {
			return err
		}
	}
	if o.rej != nil && withRejects {
		if _, _, err := o.rej.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// creditorUnknown returns how many rows named, in their creditor field, a
// creditor that is no creditor partner of the config: the most any output
// saw, since every output sees the same rows.
func (o *outputs) creditorUnknown() int {
	n := 0
	for _, s := range o.subjects {
		n = max(n, s.unnamed)
	}
	return n
}

// createOutputs begins in o a staged output for each destination, with the
// profile and format it receives, and the staged reject report. What it
// began before a failure is left in o for the caller's abort.
func (rn *run) createOutputs(f *ledger.File, o *outputs) error {
	for i, d := range rn.job.Destinations {
		prof, err := profileFor(rn.cfg, rn.job, d)
		if err != nil {
			return err
		}
		format, err := formatFor(d)
		if err != nil {
			return endpoint.Permanent(err)
		}
		st, err := rn.staging.Create(f.ID, rn.output(f, i))
		if err != nil {
			return err
		}
		sub := &subjectBatch{l: rn.ledger, fileID: f.ID, idx: i, whose: rn.whose(f)}
		o.staged = append(o.staged, st)
		w, closeEnc, err := rn.encryptTo(d, st)
		if err != nil {
			return err
		}
		o.closers = append(o.closers, closeEnc)
		o.subjects = append(o.subjects, sub)
		o.outs = append(o.outs, transform.Output{W: w, Profile: prof, Format: format, Subject: sub.add})
	}
	if rn.job.Rejects != nil {
		rej, err := rn.staging.Create(f.ID, rejectsName)
		if err != nil {
			return err
		}
		o.rej = rej
	}
	return nil
}

// rejectWhole finishes a file the transform rejected whole (err): no
// output is kept, the staged copy goes at once, and the reject report is
// committed and delivered (finishRejection).
func (rn *run) rejectWhole(ctx context.Context, f *ledger.File, o *outputs, stats transform.Stats, l *zap.Logger, err error) error {
	for _, st := range o.staged {
		st.Abort() // a rejected file delivers nothing
	}
	bsn := errors.Is(err, transform.ErrBSN)
	l.Error("file rejected", zap.Bool("security", bsn), zap.String("outcome", "rejected"), zap.String("error", err.Error()))
	rn.observe(Event{Job: rn.job.Name, Partner: f.Partner, Step: "transform", Outcome: "rejected", Rows: stats.Rows, Rejected: stats.Rejected})
	// The staged copy goes first and at once: a file with a BSN is not
	// kept, whatever happens to its report. The mark first says that its
	// absence is a rejection.
	if err := rn.staging.MarkRejected(f.ID); err != nil {
		return err
	}
	if err := os.Remove(rn.staging.Path(f.ID, f.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_ = syncDir(rn.staging.Dir())
	_ = rn.ledger.SetCounts(f.ID, stats.Rows, stats.Rejected)
	if o.rej != nil {
		if _, _, err := o.rej.Commit(); err != nil {
			l.Error("reject report lost", zap.String("outcome", "failed"), zap.String("error", err.Error()))
		}
	}
	return rn.finishRejection(ctx, f)
}

// finishRejection delivers a rejected file's report, if the job has a
// rejects destination, then removes its staging and records it rejected.
func (rn *run) finishRejection(ctx context.Context, f *ledger.File) error {
	// Nothing of it is delivered: the subjects of its outputs go, before
	// the record that would leave them behind.
	if _, err := rn.ledger.DropSubjects(f.ID); err != nil {
		return err
	}
	if _, err := os.Stat(rn.staging.Path(f.ID, rejectsName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err // not known to be absent: not recorded rejected without it
	} else if err == nil {
		if rn.job.Rejects == nil {
			rn.fileLog(f).Warn("reject report dropped", zap.String("outcome", "no rejects destination"))
		} else if err := rn.deliverReport(ctx, f); err != nil {
			return err
		}
	}
	return rn.rejected(ctx, f)
}

// rejected ends the rejection of f, its report delivered: its staging
// goes, and it is recorded rejected. In a cluster its source is cleaned
// in between (kept until now: the file is over, see cluster.go), after
// the ledger records that the rejection is over but for that
// (MarkRejecting): a node that takes the file over then finishes it here
// (restage), whether the source is still there or not.
func (rn *run) rejected(ctx context.Context, f *ledger.File) error {
	if err := rn.staging.Remove(f.ID, f.Name); err != nil {
		return err
	}
	if rn.cfg.Cluster != nil {
		if err := rn.ledger.MarkRejecting(f.ID); err != nil {
			return err
		}
		f.Rejecting = true
		if err := rn.cleanSource(ctx, f); err != nil {
			return err
		}
	}
	if err := rn.setState(f, ledger.StateRejected); err != nil {
		return err
	}
	rn.fileLog(f).Info("staging removed", zap.String("outcome", "rejected"), zap.String("sha256", f.SHA256))
	return errFileRejected
}

// deliverReport delivers the staged reject report of f, unless delivered.
func (rn *run) deliverReport(ctx context.Context, f *ledger.File) error {
	have, superseded, err := rn.deliveriesOf(f)
	if err != nil {
		return err
	}
	d := have[rejectsIndex]
	if d != nil && d.State == ledger.DeliveryDelivered {
		return nil
	}
	return rn.deliver(ctx, f, rejectsIndex, rn.job.Rejects, d, superseded, false)
}

// reportName is the name a file's reject report is delivered under.
func reportName(name string) string {
	return strings.TrimSuffix(name, path.Ext(name)) + ".rejects.csv"
}

// subjectBatch turns the debtor and case references of one output into
// pseudonyms and records them in the ledger in batches, so that memory
// stays flat whatever the file's size. prepare drops them again if the
// output is discarded.
type subjectBatch struct {
	l      *ledger.Ledger
	fileID int64
	idx    int
	whose  func(field string) (creditor, key string)
	buf    []ledger.Subject
	err    error
	// unnamed counts the rows whose creditor field named no creditor
	// partner (recorded "creditor unknown").
	unnamed int
}

func (b *subjectBatch) add(field, ref, caseRef string) {
	if b.err != nil || ref == "" {
		return
	}
	creditor, key := b.whose(field)
	if field != "" && creditor == "" {
		b.unnamed++
	}
	s := ledger.Subject{Pseudonym: b.l.Pseudonym(key, ref), Creditor: creditor}
	if caseRef != "" {
		s.Case = b.l.CasePseudonym(caseRef)
	}
	b.buf = append(b.buf, s)
	if len(b.buf) >= 1000 {
		b.err = b.flush()
	}
}

func (b *subjectBatch) flush() error {
	if b.err != nil {
		return b.err
	}
	if len(b.buf) == 0 {
		return nil
	}
	err := b.l.AddSubjectsOf(b.fileID, b.idx, b.buf)
	b.buf = b.buf[:0]
	return err
}

// whose returns how the rows of f name their creditor (see "Whose debtor"
// in docs/config.md): given a row's creditor field, the creditor partner
// it belongs to ("" if not known) and the creditor its pseudonym is keyed
// on, which for an unknown one is the source partner. A creditor source
// is the creditor of every row, whatever the field says: a creditor
// cannot claim another's debtors. A field that names no creditor partner
// makes the row's creditor unknown, even when the layout names one: the
// row contradicts the layout, and a possible match is better than a
// debtor recorded under the wrong creditor.
func (rn *run) whose(f *ledger.File) func(field string) (creditor, key string) {
	isCreditor := func(name string) bool {
		p := rn.cfg.Partners[name]
		return p != nil && p.Role == config.RoleCreditor
	}
	if isCreditor(f.Partner) {
		return func(string) (string, string) { return f.Partner, f.Partner }
	}
	var fixed string
	if rn.job.Transform != nil {
		if l := rn.cfg.Layouts[rn.job.Transform.Layout]; l != nil {
			fixed = l.Creditor
		}
	}
	return func(field string) (string, string) {
		if field == "" {
			field = fixed
		}
		if field != "" && isCreditor(field) {
			return field, field
		}
		return "", f.Partner
	}
}
