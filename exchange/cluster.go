package exchange

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/ledger"
)

// A cluster (config cluster:): several nodes run jobs on one PostgreSQL
// ledger. A job runs on the node that holds its lease, job:<name>, taken
// at the start of a run and held, renewed, until its end: that node lists
// the source and takes the job's files through their steps, so the job
// lease is the claim of every file of the job. One claim per job, not
// per file: discovery (listing the source, settling, deciding what is
// new) must happen in one place, or two nodes would import one file
// twice; and a file's steps, whose staging is local to a node, must
// happen in one place too. A node whose schedule fires while another
// holds the lease skips the run.
//
// A node counts its lease valid only until the time it sent its last
// successful renewal (or the take) plus the lease minus a third of it:
// the database counts from a moment later, so the node stops before any
// other node may take over. When the validity ends the run's context is
// cancelled at once; every side effect on an endpoint checks the lease
// first (leaseEndpoint), and every ledger write carries it (ledger.Fenced).
//
// The source is cleaned only once every destination has the file: a node
// that takes over a file another node staged, and has no copy of it,
// stages it again from the source (restage).

// ErrHeldElsewhere is returned by Runner.Run in a cluster when another
// node holds the job's lease: the run is skipped, which is no failure.
var ErrHeldElsewhere = errors.New("exchange: the job runs on another node")

// ErrLeaseLost ends the work of a run whose lease is no longer valid. It
// wraps context.Canceled: the run is interrupted, not failed.
var ErrLeaseLost = fmt.Errorf("exchange: lease lost: %w", context.Canceled)

// errSourceChanged is a source file that, staged again on takeover, is not
// the file first staged (size or sha256): a security matter.
var errSourceChanged = errors.New("exchange: the source file is not the one staged first")

// lease is a lease a run holds: renewed every third of its length until
// released; lost when a renewal fails to come in time or is refused.
type lease struct {
	r     *Runner
	name  string
	job   string
	token int64
	d     time.Duration
	log   *zap.Logger

	ctx    context.Context // cancelled with ErrLeaseLost when the lease is lost
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	until time.Time   // local (monotonic) end of validity
	timer *time.Timer // fires at until
	gone  bool        // lost: until stays zero

	lostOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// takeLease takes lease name, asking under ctx, or returns nil if another
// node holds it. job is the job whose lease it is, "" for another lease
// (a connection slot). The lease's context is parent, cancelled when the
// lease is lost or released.
func (r *Runner) takeLease(ctx, parent context.Context, name, job string) (*lease, error) {
	cl := r.cfg.Cluster
	d := cl.Lease.D()
	sent := time.Now()
	token, ok, err := r.ledger.TakeLease(ctx, name, cl.Node, d)
	if err != nil || !ok {
		return nil, err
	}
	log := r.log.With(zap.String("node", cl.Node), zap.String("lease", name))
	if job != "" {
		log = log.With(zap.String("job", job))
	}
	ls := &lease{r: r, name: name, job: job, token: token, d: d, until: sent.Add(d - d/3),
		log: log, stop: make(chan struct{}), done: make(chan struct{})}
	ls.ctx, ls.cancel = context.WithCancelCause(parent)
	ls.timer = time.AfterFunc(time.Until(ls.until), ls.expire)
	r.leaseHeld(job, true)
	go ls.heartbeat()
	return ls, nil
}

// lost reports whether the lease was lost (not merely released, or its
// run cancelled).
func (ls *lease) lost() bool { return errors.Is(context.Cause(ls.ctx), ErrLeaseLost) }

// check returns an error unless the lease may still be acted under:
// called before every side effect. A lease whose validity ended is lost
// here at the latest (ErrLeaseLost); one whose run was cancelled returns
// that cause.
func (ls *lease) check() error {
	if ls.ctx.Err() != nil {
		return context.Cause(ls.ctx)
	}
	ls.mu.Lock()
	ok := time.Now().Before(ls.until)
	ls.mu.Unlock()
	if !ok {
		ls.lose("validity ended")
		return ErrLeaseLost
	}
	return nil
}

// expire is the timer's: the validity ended unless renewed meanwhile.
func (ls *lease) expire() {
	if ls.ctx.Err() != nil {
		return // released, lost or cancelled already
	}
	ls.mu.Lock()
	left := time.Until(ls.until)
	if left > 0 {
		ls.timer.Reset(left)
	}
	ls.mu.Unlock()
	if left <= 0 {
		ls.lose("not renewed in time")
	}
}

// heartbeat renews the lease every third of its length until stop.
func (ls *lease) heartbeat() {
	defer close(ls.done)
	t := time.NewTicker(ls.d / 3)
	defer t.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-ls.ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), ls.d/3)
		ok, err := ls.r.ledger.RenewLease(ctx, ls.name, ls.token, ls.d)
		cancel()
		switch {
		case err != nil:
			// The validity runs out unless a later renewal comes in.
			ls.log.Warn("lease not renewed", zap.String("outcome", "retry"), zap.String("error", err.Error()))
		case !ok:
			ls.lose("taken over or expired")
			return
		default:
			ls.mu.Lock()
			if sent.Add(ls.d-ls.d/3).After(ls.until) && !ls.gone {
				ls.until = sent.Add(ls.d - ls.d/3)
				ls.timer.Reset(time.Until(ls.until))
			}
			ls.mu.Unlock()
		}
	}
}

// lose ends the work under the lease, once: no side effect passes its
// check from the first moment, the loss is logged and counted, and its
// context is cancelled (what waits on the context then sees all that
// done).
func (ls *lease) lose(why string) {
	ls.lostOnce.Do(func() {
		ls.mu.Lock()
		ls.until, ls.gone = time.Time{}, true
		ls.mu.Unlock()
		ls.log.Error("lease lost", zap.String("outcome", "stopped"), zap.String("reason", why))
		ls.r.leaseHeld(ls.job, false)
		if ls.r.Observe != nil && ls.job != "" {
			ls.r.Observe(Event{Job: ls.job, Step: "lease", Outcome: "lost"})
		}
		ls.cancel(ErrLeaseLost)
	})
}

// fenced is the ledger's callback when a write under the lease was refused.
func (ls *lease) fenced() { ls.lose("a ledger write was fenced") }

// release stops the heartbeat and gives the lease up, unless lost: a
// run cut short by shutdown (its context cancelled) gives it up too, so
// that another node need not wait for it to expire.
func (ls *lease) release() {
	close(ls.stop)
	<-ls.done
	ls.timer.Stop()
	if !ls.lost() {
		ctx, cancel := context.WithTimeout(context.Background(), ls.d/3)
		if err := ls.r.ledger.ReleaseLease(ctx, ls.name, ls.token); err != nil {
			ls.log.Warn("lease not released", zap.String("outcome", "expires"), zap.String("error", err.Error()))
		}
		cancel()
		ls.r.leaseHeld(ls.job, false)
	}
	ls.cancel(nil)
}

// leaseHeld tells LeaseHeld, if set, that this node holds job's lease or
// not; nothing for a lease that is no job's.
func (r *Runner) leaseHeld(job string, held bool) {
	if r.LeaseHeld != nil && job != "" {
		r.LeaseHeld(job, held)
	}
}

// leaseEndpoint is an endpoint whose side effects (create, rename, remove)
// are made only while the run's lease is valid.
type leaseEndpoint struct {
	endpoint.Endpoint
	ls *lease
}

func (e leaseEndpoint) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	if err := e.ls.check(); err != nil {
		return nil, err
	}
	return e.Endpoint.Create(ctx, p)
}

func (e leaseEndpoint) Rename(ctx context.Context, from, to string) error {
	if err := e.ls.check(); err != nil {
		return err
	}
	return e.Endpoint.Rename(ctx, from, to)
}

func (e leaseEndpoint) Remove(ctx context.Context, p string) error {
	if err := e.ls.check(); err != nil {
		return err
	}
	return e.Endpoint.Remove(ctx, p)
}

// The optional methods an endpoint may offer beside endpoint.Endpoint,
// which the exchange package asks for by type assertion. leaseEndpoint
// passes each one through: embedding the interface hides them
// (TestClusterLeaseEndpointKeepsOptionalMethods lists them).
//
//   - SameFile (the SFTP endpoint): see delivery.linkedBefore.
type sameFiler interface {
	SameFile(ctx context.Context, a, b string) (bool, error)
}

// SameFile is the wrapped endpoint's, or errors.ErrUnsupported where it
// has none. It only looks, so it needs no valid lease.
func (e leaseEndpoint) SameFile(ctx context.Context, a, b string) (bool, error) {
	m, ok := e.Endpoint.(sameFiler)
	if !ok {
		return false, errors.ErrUnsupported
	}
	return m.SameFile(ctx, a, b)
}

// restage gives this node the staged copy of f, a file past staging whose
// source is still there (a cluster cleans it only once delivered; without
// one, a file still staged), when another node or machine staged it and
// died, or staging was lost: it stages it again from the source and
// requires the size and sha256 recorded; a file that differs is a
// security matter and stays pending. For a file already transformed, the
// outputs are made again only where that is safe: before any delivery
// began, or when every destination gets the staged copy itself; else the
// file stays pending with an error for ops. It reports whether the outputs
// must be made again.
func (rn *run) restage(ctx context.Context, f *ledger.File) (remake bool, err error) {
	if rn.cfg.Cluster != nil {
		// Rejected whole on a node that lost the file before its record:
		// over but for its source and that (errFileRejected).
		if f.Rejecting {
			rn.fileLog(f).Info("rejection resumed", zap.String("node", rn.cfg.Cluster.Node), zap.String("outcome", "finishing"))
			return false, rn.rejected(ctx, f)
		}
	}
	kept, err := rn.dropStale(f)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(rn.staging.Path(f.ID, f.Name)); !kept && (err == nil || !errors.Is(err, fs.ErrNotExist)) {
		return false, err // here, or not to be told: the usual steps say
	}
	if rn.staging.Rejected(f.ID) {
		return false, nil // rejected whole here: the usual steps finish it
	}
	if f.State == ledger.StateTransformed {
		dels, err := rn.ledger.Deliveries(f.ID)
		if err != nil {
			return false, err
		}
		pending, began := 0, 0
		// A reject report (rows rejected) is staged where the file was
		// prepared: until delivered it needs the outputs made again.
		report := rn.job.Rejects != nil && f.Rejected > 0
		for _, d := range dels {
			if d.Index == rejectsIndex {
				report = report && d.State != ledger.DeliveryDelivered
				continue
			}
			if d.State != ledger.DeliveryDelivered {
				pending++
			}
			began++
		}
		if began == len(rn.job.Destinations) && pending == 0 && !report {
			return false, nil // every destination has it: only the source to clean
		}
		if began > 0 && !rn.outputsAreCopy() && rn.job.Transform == nil {
			// Outputs made only for OpenPGP, which never come out the
			// same twice (a transform's may: see prepareAgain).
			return false, notSameAgain(f, "its outputs are OpenPGP messages")
		}
		remake = !rn.outputsAreCopy()
	}
	if !kept {
		if err := rn.stageAgain(ctx, f); err != nil {
			return false, err
		}
	}
	if !remake {
		// Recorded before any delivery is made of it: the copy of
		// another node is stale from now on. Outputs to make again are
		// recorded once made (remake): until then another node's, whose
		// deliveries began, stay the file's.
		if err := rn.stagedOn(f); err != nil {
			return false, err
		}
	}
	outcome := "restaged"
	if kept {
		outcome = "copy here kept"
	}
	rn.fileLog(f).Info("file staged again", zap.Int64("bytes", f.Size), zap.String("sha256", f.SHA256), zap.String("outcome", outcome))
	return remake, nil
}

// stageAgain stages f again from its source, which must hold the size,
// mtime and sha256 recorded.
func (rn *run) stageAgain(ctx context.Context, f *ledger.File) error {
	ep, err := rn.endpoint(f.Partner)
	if err != nil {
		return err
	}
	fi, err := ep.Stat(ctx, join(f.Dir, f.Name))
	if errors.Is(err, fs.ErrNotExist) {
		return endpoint.Permanent(fmt.Errorf("exchange: file %d: staged on another node, and its source is gone: it cannot be staged here", f.ID))
	}
	if err != nil {
		return err
	}
	if !fi.IsRegular() || fi.Size != f.Size || !fi.ModTime.Equal(f.ModTime) {
		return endpoint.Permanent(fmt.Errorf("%w: file %d: %d bytes at the source, %d staged", errSourceChanged, f.ID, fi.Size, f.Size))
	}
	n, sum, err := rn.copyIn(ctx, ep, f, fi)
	if err != nil {
		return err
	}
	if n != f.Size || sum != f.SHA256 {
		if rerr := rn.staging.Remove(f.ID, f.Name); rerr != nil {
			return rerr
		}
		return endpoint.Permanent(fmt.Errorf("%w: file %d: sha256 %s, %s staged", errSourceChanged, f.ID, sum, f.SHA256))
	}
	return nil
}

// outputsAreCopy reports whether every destination of the job gets the
// staged copy itself, so that a copy staged again is every output.
func (rn *run) outputsAreCopy() bool {
	if rn.job.Transform != nil {
		return false
	}
	for _, d := range rn.job.Destinations {
		if needsOutput(rn.job, d) {
			return false
		}
	}
	return true
}

// remake, in a cluster, stages f again if this node has no copy of it
// (restage) and makes its outputs again where that is needed and safe.
func (rn *run) remake(ctx context.Context, f *ledger.File) error {
	if rn.cfg.Cluster == nil {
		return nil
	}
	remake, err := rn.restage(ctx, f)
	if err != nil || !remake {
		return err
	}
	if rn.job.Transform == nil {
		if err := rn.preparePlain(ctx, f); err != nil {
			return err
		}
		if err := rn.ledger.MarkUnread(f.ID); err != nil {
			return err
		}
		return rn.stagedOn(f)
	}
	dels, err := rn.ledger.Deliveries(f.ID)
	if err != nil {
		return err
	}
	if len(dels) > 0 {
		err = rn.prepareAgain(ctx, f, dels)
	} else {
		err = rn.prepare(ctx, f)
	}
	if err != nil {
		return err
	}
	return rn.stagedOn(f)
}

// errNotSame is the failure of outputs made again on another node that do
// not come out as the deliveries begun with the first ones recorded.
var errNotSame = errors.New("exchange: outputs made again differ from those whose delivery began")

// notSameAgain is the permanent failure of file f whose deliveries began
// on another node, whose outputs cannot be made here as they were (why).
func notSameAgain(f *ledger.File, why string) error {
	return endpoint.Permanent(fmt.Errorf("%w: file %d: its deliveries began on another node, whose staged outputs are not here, and %s; the node that made them can finish it when it runs again; if it is gone for good, check the destinations, then \"exchanged files abandon %d\" and have the file dropped again",
		errNotSame, f.ID, why, f.ID))
}

// prepareAgain makes the outputs of f again on a node taking over a file
// whose deliveries (dels) began on another node: a transform's output is
// a function of the staged copy (whose sha256 restage checked) and the
// config, so it comes out byte for byte as it did there. That is checked,
// not assumed: every output still to be delivered must have the sha256
// its delivery recorded when it began. An output that differs (OpenPGP's
// never come out the same twice; a config changed since) is not sent: the
// outputs and the staged copy are removed again, and the file stays
// pending for ops, as it would have without this.
func (rn *run) prepareAgain(ctx context.Context, f *ledger.File, dels []ledger.Delivery) error {
	err := rn.prepareWith(ctx, f, true)
	for i := 0; err == nil && i < len(dels); i++ {
		d := dels[i]
		if d.State == ledger.DeliveryDelivered {
			continue
		}
		_, sum, oerr := rn.stagedSum(f, rn.output(f, d.Index))
		switch {
		case errors.Is(oerr, fs.ErrNotExist):
			err = notSameAgain(f, fmt.Sprintf("made again here, output %d is not made", d.Index))
		case oerr != nil:
			err = oerr
		case sum != d.SHA256:
			err = notSameAgain(f, fmt.Sprintf("made again here, output %d has sha256 %s where its delivery %d began with %s", d.Index, sum, d.ID, d.SHA256))
		}
	}
	if err != nil {
		// Nothing made here may be sent; the next run tries again from
		// the source.
		if rerr := rn.staging.Remove(f.ID, f.Name); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	rn.fileLog(f).Info("outputs made again", zap.Int("deliveries", len(dels)), zap.String("outcome", "same as first made"))
	return nil
}

// sameAsBegun refuses, in a cluster, to resume delivery d of f, begun by
// this node or another, with a staged output lf other than the one it
// began with (its recorded sha256), before it sends bytes again: the
// partner would get a file the ledger does not record, its checksum
// sidecar (written from the record) would not match it, and an output
// made twice (OpenPGP) would reach the partner in two versions.
// A delivery uploaded already sends nothing again.
func (rn *run) sameAsBegun(f *ledger.File, d *ledger.Delivery, lf *StagedFile) error {
	if rn.cfg.Cluster == nil || d == nil || d.SHA256 == "" {
		return nil
	}
	switch d.State {
	case ledger.DeliveryStarted, ledger.DeliveryCreating, ledger.DeliveryWriting:
	default:
		return nil
	}
	sum, err := hashFile(lf)
	if err != nil {
		return err
	}
	if sum != d.SHA256 {
		return endpoint.Permanent(fmt.Errorf("%w: file %d: delivery %d began with an output of sha256 %s, the one staged here has %s: it is not sent; the node that made the first can finish it when it runs again; if it is gone for good, check the destination, then \"exchanged files abandon %d\" and have the file dropped again",
			errNotSame, f.ID, d.ID, d.SHA256, sum, f.ID))
	}
	return nil
}

// slotPoll is how often a connection waiting for a cluster-wide slot
// tries the slots again.
const slotPoll = 200 * time.Millisecond

// connSlot returns partner's max_conns across the cluster: a connection
// takes lease conn:<partner>:<slot>, for the first of slots 0..max_conns-1
// that is free, and holds it, renewed, until it closes. It waits for one
// while ctx lasts, and no longer than the connect timeout (as the local
// limit: two runs each holding a slot and waiting for another's must not
// wait for ever).
func (r *Runner) connSlot(partner string, s *config.SFTP) sftp.Slot {
	return func(ctx context.Context) (func(), <-chan struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, s.ConnectTimeout())
		defer cancel()
		for {
			for i := range s.MaxConns {
				ls, err := r.takeLease(ctx, context.Background(), fmt.Sprintf("conn:%s:%d", partner, i), "")
				if err != nil {
					return nil, nil, err
				}
				if ls != nil {
					return ls.release, ls.ctx.Done(), nil
				}
			}
			t := time.NewTimer(slotPoll)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, nil, fmt.Errorf("no free connection slot in the cluster within %s: %w", s.ConnectTimeout(), ctx.Err())
			case <-t.C:
			}
		}
	}
}

// stagedOn records, in a cluster, that this node holds f's staged copy
// (files.staged_on): the copy of any other node is stale from then on
// (see dropStale).
func (rn *run) stagedOn(f *ledger.File) error {
	cl := rn.cfg.Cluster
	if cl == nil {
		return nil
	}
	if err := rn.ledger.SetStagedOn(f.ID, cl.Node); err != nil {
		rn.fileLog(f).Warn("staging node not recorded", zap.String("node", cl.Node), zap.String("outcome", "failed"), zap.String("error", err.Error()))
		return err
	}
	f.StagedOn = cl.Node
	return nil
}

// dropStale removes, in a cluster, what this node holds of f when the
// ledger says that another node staged it since (files.staged_on): this
// node lost the file's lease meanwhile, the other node staged it again,
// made its own outputs and may have begun deliveries with them. The
// outputs here are stale, never to be resumed with, and go; the source
// copy stays if it holds exactly the bytes recorded (kept: it may be the
// last copy, the other node gone and the source with it), else it goes
// too. The usual takeover rules (restage) then apply as on a node that
// has no outputs, with the kept copy for one staged again.
// Without a record (none: staged by a version that did not record it, or
// a restage whose record failed: no other node staged it since) the copy
// here stands. A first staging records it with its staged mark
// (MarkStagedOn), in one write.
func (rn *run) dropStale(f *ledger.File) (kept bool, err error) {
	cl := rn.cfg.Cluster
	if cl == nil {
		return false, nil
	}
	node := f.StagedOn // read with f, under the job's lease: no other node writes it meanwhile
	if node == "" || node == cl.Node {
		return false, nil
	}
	held := rn.staging.Held(f.ID, f.Name)
	if len(held) == 0 {
		return false, nil
	}
	// The source copy is the file's own bytes wherever it was staged:
	// one that holds exactly what was recorded stays (it may be the last
	// copy, its source gone since); what was made of it goes.
	if kept = rn.holdsRecorded(f); kept {
		err = rn.staging.RemoveMade(f.ID)
	} else {
		err = rn.staging.Remove(f.ID, f.Name)
	}
	if err != nil {
		return false, err
	}
	outcome := "stale: staged again on another node"
	if kept {
		outcome = "stale outputs: staged again on another node, the copy here holds the recorded sha256"
	}
	rn.fileLog(f).Warn("staging removed", zap.String("node", cl.Node), zap.String("staged_on", node), zap.Int("files", len(held)),
		zap.String("outcome", outcome))
	return kept, nil
}

// holdsRecorded reports whether this node's staged copy of f holds exactly
// the bytes recorded: its size and sha256, every chunk authenticated.
func (rn *run) holdsRecorded(f *ledger.File) bool {
	n, sum, err := rn.stagedSum(f, f.Name)
	return err == nil && n == f.Size && sum == f.SHA256
}

// stagedSum returns the size and hex sha256 of the plaintext staged for
// f under name, every chunk authenticated.
func (rn *run) stagedSum(f *ledger.File, name string) (int64, string, error) {
	lf, err := rn.staging.Open(f.ID, name)
	if err != nil {
		return 0, "", err
	}
	defer lf.Close()
	sum, err := hashFile(lf)
	return lf.Size(), sum, err
}
