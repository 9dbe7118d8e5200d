package exchange

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/local"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/internal/crash"
	"github.com/exchanged/exchanged/internal/pgp"
	"github.com/exchanged/exchanged/internal/seal"
	"github.com/exchanged/exchanged/ledger"
)

// Runner runs jobs: it takes each file of a job from seen to delivered,
// recording every step in the ledger before the next side effect, so that
// a run after a crash resumes where the last one stopped.
type Runner struct {
	cfg     *config.Config
	ledger  *ledger.Ledger
	staging *Staging
	log     *zap.Logger
	sems    map[string]chan struct{} // per-partner connection limits
	budget  *budget                  // bytes in flight, process-wide (see budget.go)

	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Sleep waits for d or until ctx ends; tests may replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Observe, if set, is told of every finished file step (for metrics),
	// and of every retry (Outcome "retry"). It, Now and Sleep are called
	// from up to runs.parallel_files goroutines at once.
	Observe func(Event)
	// Retry is how transient failures are retried within a run.
	Retry RetryPolicy

	// LeaseHeld, if set, is told when this node (cluster:) takes and
	// gives up or loses the lease of a job (for metrics).
	LeaseHeld func(job string, held bool)

	// wrapEndpoint, if set, wraps every endpoint a run makes (tests).
	wrapEndpoint func(partner string, ep endpoint.Endpoint) endpoint.Endpoint

	// sweepDue says that a staged copy of a file already recorded done
	// could not be removed: the next run sweeps staging first.
	sweepDue atomic.Bool
}

// Event is one finished step of one file, as logged. Outcome is "ok",
// "failed", "rejected", "refused" for a file left at the source because it
// cannot be delivered as named (step "seen"), or "retry" for a transient
// failure tried again.
// Partner is the source's partner, but for a delivery the destination's:
// a file that fails to reach two partners makes one event for each.
type Event struct {
	Job, Partner, Step, Outcome string
	Bytes                       int64
	Rows, Rejected              int
	Duration                    time.Duration
}

// NewRunner returns a runner for cfg, recording in l and staging under
// cfg.StateDir/staging.
func NewRunner(cfg *config.Config, l *ledger.Ledger, log *zap.Logger) (*Runner, error) {
	if log == nil {
		log = zap.NewNop()
	}
	key, err := stagingKeyFor(cfg, l)
	if err != nil {
		return nil, err
	}
	st, err := OpenStaging(path.Join(cfg.StateDir, "staging"), key)
	if err != nil {
		return nil, err
	}
	sems := map[string]chan struct{}{}
	for name, p := range cfg.Partners {
		if p.SFTP != nil && p.SFTP.MaxConns > 0 {
			sems[name] = make(chan struct{}, p.SFTP.MaxConns)
		}
	}
	r := &Runner{cfg: cfg, ledger: l, staging: st, log: log, sems: sems, budget: newBudget(),
		Now: time.Now, Sleep: sleep, Retry: retryPolicy(cfg)}
	if err := r.sweepStaging(); err != nil {
		return nil, err
	}
	return r, nil
}

// ShareLimits makes r count its connections against old's limit for each
// partner whose max_conns is the same in both configs. After a reload the
// old runner's runs still under way and the new runner's runs then share
// one limit per partner, as the partner expects; a partner whose limit
// changed gets the new one at once. The transfer budget is old's too, so
// that both runners' transfers count against one.
func (r *Runner) ShareLimits(old *Runner) {
	r.budget = old.budget
	for name, sem := range r.sems {
		if o, ok := old.sems[name]; ok && cap(o) == cap(sem) {
			r.sems[name] = o
		}
	}
}

// sweepStaging removes what staging holds for files the ledger does not
// have pending (left by a failure to clean up), so that no personal data
// rests there longer than needed. A pending file's staging is kept; it is
// only moved out of an earlier version's layout, which no run of this one
// writes, so this is safe beside runs in flight.
func (r *Runner) sweepStaging() error {
	removed, err := r.staging.Sweep(func(id int64) (bool, error) {
		f, err := r.ledger.File(id)
		if errors.Is(err, ledger.ErrNotFound) {
			return false, nil
		}
		if err != nil || f.State == ledger.StateDone || f.State == ledger.StateRejected {
			return false, err
		}
		// Pending: kept, and its copy moved to where this version looks
		// if an earlier one staged it as <id>/<name>, so that a file
		// staged before an upgrade is delivered after it.
		moved, err := r.staging.Adopt(id, f.Name)
		if moved {
			r.log.Info("staging adopted", zap.Int64("file_id", id), zap.String("outcome", "moved to "+strconv.FormatInt(id, 10)+sourceSuffix))
		}
		if err != nil {
			return true, err
		}
		// Staged in plaintext by a version before sealing: sealed now,
		// or removed if unfinished. A copy under way (state staging) may
		// be written now: never sealed here.
		n, rm, err := r.staging.SealLegacy(id, f.Name, f.State == ledger.StateStaging)
		if n > 0 {
			r.log.Info("staging sealed", zap.Int64("file_id", id), zap.Int("files", n), zap.String("outcome", "sealed"))
		}
		if rm > 0 {
			r.log.Info("staging plaintext removed", zap.Int64("file_id", id), zap.Int("files", rm), zap.String("outcome", "unfinished plaintext removed"))
		}
		return true, err
	})
	for _, id := range removed {
		r.log.Warn("staging swept", zap.Int64("file_id", id), zap.String("outcome", "orphan removed"))
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Staging returns the runner's staging area.
func (r *Runner) Staging() *Staging { return r.staging }

// Result sums up one run.
type Result struct {
	RunID     int64
	Files     int   // files that reached done or rejected in this run
	Delivered int   // deliveries made
	Failed    int   // files that failed a step and stay pending
	Refused   int   // files left at the source: they cannot be delivered as named
	Bytes     int64 // bytes staged
}

// OutcomeInterrupted is the outcome of a run cut short by shutdown (its
// context cancelled): recorded and logged as such, never as "failed".
const OutcomeInterrupted = "interrupted"

// Run runs job once: it resumes the job's pending files, then lists the
// source and takes every new settled file through its life.
func (r *Runner) Run(ctx context.Context, jobName string) (res Result, err error) {
	job := r.cfg.Jobs[jobName]
	if job == nil {
		return res, fmt.Errorf("exchange: no job %q", jobName)
	}
	l := r.ledger
	var ls *lease
	if r.cfg.Cluster == nil && r.sweepDue.CompareAndSwap(true, false) {
		// What a run before could not remove of a file it recorded done
		// goes now, not months later at the next start.
		if err := r.sweepStaging(); err != nil {
			r.sweepDue.Store(true)
			r.log.Error("staging not swept", zap.String("job", jobName), zap.String("outcome", "tried again at the next run"), zap.String("error", err.Error()))
		}
	}
	if cl := r.cfg.Cluster; cl != nil {
		// Whatever this node holds of files finished elsewhere since it
		// staged them goes now, held elsewhere or not (see sweepStaging).
		if err := r.sweepStaging(); err != nil {
			return res, fmt.Errorf("exchange: job %s: %w", jobName, err)
		}
		if ls, err = r.takeLease(ctx, ctx, "job:"+jobName, jobName); err != nil {
			return res, fmt.Errorf("exchange: job %s: %w", jobName, err)
		}
		if ls == nil {
			r.log.Info("run held elsewhere", zap.String("job", jobName), zap.String("node", cl.Node), zap.String("outcome", "skipped"))
			return res, ErrHeldElsewhere
		}
		defer ls.release()
		ctx = ls.ctx
		l = r.ledger.Fenced(ls.name, ls.token, ls.fenced)
	}
	start := r.Now()
	if ls != nil {
		// Holding the job's lease, no other run of it is under way: one
		// that never recorded its end (its node lost the lease, and its
		// own record was fenced) ends now, recorded as interrupted.
		if n, err := l.CloseUnfinished(jobName, start); err != nil {
			return res, fmt.Errorf("exchange: job %s: %w", jobName, err)
		} else if n > 0 {
			r.log.Info("runs closed", zap.String("job", jobName), zap.Int64("runs", n), zap.String("outcome", OutcomeInterrupted))
		}
	}
	runID, err := l.StartRun(jobName, start)
	if err != nil {
		return res, fmt.Errorf("exchange: job %s: %w", jobName, err)
	}
	res.RunID = runID
	rn := &run{Runner: r, ledger: l, lease: ls, job: job, runState: &runState{res: &res, eps: map[string]endpoint.Endpoint{}},
		log: r.log.With(zap.String("job", jobName), zap.Int64("run", runID))}
	defer rn.closeEndpoints()

	err = rn.do(ctx)
	outcome, msg := "ok", ""
	switch {
	case err != nil:
	case res.Refused > 0:
		err = fmt.Errorf("%w: job %s: %d file(s) failed, %d refused at the source", ErrFilesFailed, jobName, res.Failed, res.Refused)
	case res.Failed > 0:
		err = fmt.Errorf("%w: %d file(s) of job %s", ErrFilesFailed, res.Failed, jobName)
	}
	if err != nil {
		outcome, msg = "failed", err.Error()
		if ctx.Err() != nil {
			outcome = OutcomeInterrupted // cut short by shutdown: not a verdict on the job
		}
		if ls != nil && ls.lost() {
			err = fmt.Errorf("%w: job %s: %v", ErrLeaseLost, jobName, err)
		}
	}
	// Fenced like every write of the run: a node that lost the lease
	// records nothing more, not even this; the next run of the job, on
	// whichever node takes the lease, records this one as interrupted
	// (CloseUnfinished).
	switch ferr := l.FinishRun(runID, outcome, res.Files, msg, r.Now()); {
	case errors.Is(ferr, ledger.ErrFenced):
		rn.log.Warn("run end not recorded", zap.String("outcome", "left to the next run of the job"), zap.String("error", ferr.Error()))
		if err == nil {
			err = fmt.Errorf("%w: job %s: %v", ErrLeaseLost, jobName, ferr)
		}
	case ferr != nil && err == nil:
		err = ferr
	}
	fields := []zap.Field{zap.Int("files", res.Files), zap.Int("delivered", res.Delivered),
		zap.Int("failed", res.Failed), zap.Int("refused", res.Refused), zap.Int64("bytes", res.Bytes),
		zap.Duration("duration", r.Now().Sub(start)), zap.String("outcome", outcome)}
	switch {
	case outcome == OutcomeInterrupted:
		rn.log.Warn("run finished", append(fields, zap.String("error", err.Error()))...)
	case err != nil:
		rn.log.Error("run finished", append(fields, zap.String("error", err.Error()))...)
	default:
		rn.log.Info("run finished", fields...)
	}
	return res, err
}

// run is one run of one job, as one of its workers sees it: each worker
// (see each) has its own copy, sharing the runState.
type run struct {
	*Runner
	*runState
	// ledger is the Runner's, or in a cluster its view that writes
	// under the run's lease (ledger.Fenced).
	ledger *ledger.Ledger
	lease  *lease // the run's lease in a cluster, else nil
	job    *config.Job
	log    *zap.Logger
	// unrecorded is set while the file this worker takes (each gives
	// every file a copy of run of its own) is transformed but not yet
	// recorded so: the record, and its unread mark, go with the start of
	// its first delivery (startDelivery), in one write.
	unrecorded bool
}

// runState is what the workers of a run share.
type runState struct {
	mu  sync.Mutex
	eps map[string]endpoint.Endpoint // guarded by mu
	res *Result                      // guarded by mu until the run's workers are done
	// names holds, by partner and final name, a token that one delivery
	// at a time takes (see lockName); guarded by mu.
	names map[string]chan struct{}
}

// tally updates the run's result.
func (rn *run) tally(f func(*Result)) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	f(rn.res)
}

// each calls fn for items 0..n-1 of the run, up to runs.parallel_files at
// once, each call on a worker of its own. fn returns an error only when
// the run must end (fatal); each then starts no more calls, cancels the
// context of those under way, and returns that first error once they are
// done.
func (rn *run) each(ctx context.Context, n int, fn func(ctx context.Context, w *run, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rn.cfg.Runs.Parallel())
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		w := *rn
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err // cancelled while this call waited for a worker
			}
			return fn(gctx, &w, i)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// ifFatal returns err if it ends the run, else nil: a file's failure was
// recorded and the run goes on with the other files.
func ifFatal(err error) error {
	if err != nil && endpoint.IsFatal(err) {
		return err
	}
	return nil
}

// endpoint returns the run's endpoint for a partner, made on first use and
// reused for the whole run.
func (rn *run) endpoint(partner string) (endpoint.Endpoint, error) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if ep, ok := rn.eps[partner]; ok {
		return ep, nil
	}
	p := rn.cfg.Partners[partner]
	if p == nil {
		return nil, fmt.Errorf("exchange: no partner %q", partner)
	}
	var ep endpoint.Endpoint
	switch {
	case p.SFTP != nil:
		s := sftp.New(partner, *p.SFTP, rn.log, rn.sems[partner])
		if rn.cfg.Cluster != nil && p.SFTP.MaxConns > 0 {
			s.SetSlot(rn.connSlot(partner, p.SFTP)) // max_conns across the cluster
		}
		ep = s
	case p.Local != nil:
		ep = local.New(p.Local.Root)
	default:
		return nil, fmt.Errorf("exchange: partner %q has no endpoint", partner)
	}
	if rn.wrapEndpoint != nil {
		ep = rn.wrapEndpoint(partner, ep)
	}
	if rn.lease != nil {
		ep = leaseEndpoint{Endpoint: ep, ls: rn.lease}
	}
	rn.eps[partner] = ep
	return ep, nil
}

func (rn *run) closeEndpoints() {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	for name, ep := range rn.eps {
		if err := ep.Close(); err != nil {
			rn.log.Warn("close endpoint", zap.String("partner", name), zap.String("error", err.Error()))
		}
	}
}

// do takes the job's pending files, then its new ones, through their
// steps. A step that fails for a transient reason is retried (rn.retry).
func (rn *run) do(ctx context.Context) error {
	pending, err := rn.ledger.Pending(rn.job.Name)
	if err != nil {
		return err
	}
	err = rn.each(ctx, len(pending), func(ctx context.Context, w *run, i int) error {
		f := &pending[i]
		return ifFatal(w.retry(ctx, func() error { return w.advance(ctx, f) }))
	})
	if err != nil {
		return err
	}
	var news []endpoint.FileInfo
	var refused []refusal
	err = rn.retry(ctx, func() (err error) { news, refused, err = rn.discover(ctx); return err })
	if err != nil {
		return err
	}
	for _, r := range refused {
		rn.refuse(r)
	}
	return rn.each(ctx, len(news), func(ctx context.Context, w *run, i int) error {
		var f *ledger.File
		err := w.retry(ctx, func() (err error) { f, err = w.stage(ctx, news[i]); return err })
		if err != nil || f == nil {
			return ifFatal(err)
		}
		return ifFatal(w.retry(ctx, func() error { return w.advance(ctx, f) }))
	})
}

// fileLog returns the logger for a file at the source.
func (rn *run) fileLog(f *ledger.File) *zap.Logger {
	return rn.log.With(zap.String("partner", f.Partner), zap.String("file", f.Name))
}

// failed returns the failure of step of f for the run's retry loop (see
// retry), which tries it again or has it recorded (recordFailure). Only
// retry records it: a step must be called through retry, or its failure
// is neither recorded, counted nor alerted on.
func (rn *run) failed(f *ledger.File, step string, err error) error {
	return &failure{err: err, step: step, partner: f.Partner, log: rn.fileLog(f),
		record: func() error { return rn.recordFailure(f, step, err) }}
}

// recordFailure records a failed step of f: it stays where it is and is
// tried again on the next run. A step cut short because the run was
// cancelled (shutdown, or another file's fatal error) is no failure of the
// file: it is logged as interrupted and not counted. It returns err.
func (rn *run) recordFailure(f *ledger.File, step string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, ledger.ErrFenced) {
		rn.fileLog(f).Warn("file interrupted", zap.String("step", step), zap.String("outcome", "interrupted"),
			zap.String("error", err.Error()))
		return err
	}
	rn.tally(func(r *Result) { r.Failed++ })
	attempts := 0
	if f.ID != 0 {
		attempts, _ = rn.ledger.Fail(f.ID, err.Error())
	}
	fields := []zap.Field{zap.String("step", step), zap.String("outcome", "failed"),
		zap.Int("attempts", attempts), zap.Bool("permanent", endpoint.IsPermanent(err)), zap.String("error", err.Error())}
	// A failed delivery counts against the partner it was for.
	partners := failedDestinations(err)
	if len(partners) > 0 {
		fields = append(fields, zap.Strings("destinations", partners))
	} else {
		partners = []string{f.Partner}
	}
	var pe *pgp.Error
	if errors.Is(err, seal.ErrAuth) || (errors.As(err, &pe) && pe.Security) || errors.Is(err, errSourceChanged) {
		// A staged file changed, or read under the wrong key; or a file
		// from a partner signed by or encrypted to another key (see
		// rejectPGP): ops must look.
		fields = append(fields, zap.Bool("security", true))
	}
	rn.fileLog(f).Error("file failed", fields...)
	for _, p := range partners {
		rn.observe(Event{Job: rn.job.Name, Partner: p, Step: step, Outcome: "failed"})
	}
	return err
}

func (rn *run) observe(e Event) {
	if rn.Observe != nil {
		rn.Observe(e)
	}
}

// advance takes a recorded file from its state to done, one recorded step
// at a time.
func (rn *run) advance(ctx context.Context, f *ledger.File) error {
	for {
		var err error
		switch f.State {
		case ledger.StateStaging:
			// The staged copy never became durable (a crash, or a failed
			// staging whose row could not be forgotten at once); the
			// source still has the file (it is cleaned only once staged),
			// so forget the row and let this run's listing find the file
			// again. Nothing here depends on the file, so a row in this
			// state never fails run after run for the file's sake.
			if err = rn.forget(f); err != nil {
				return rn.failed(f, "resume", err)
			}
			rn.fileLog(f).Info("staging discarded", zap.String("outcome", "restage"))
			return nil
		case ledger.StateStaged:
			// No staged copy here (another machine staged it and died,
			// or the staging was lost): stage it again from the source,
			// size and sha256 as recorded, before the source is cleaned;
			// else the file stays pending.
			if _, err = rn.restage(ctx, f); errors.Is(err, errFileRejected) {
				rn.tally(func(r *Result) { r.Files++ })
				return nil
			} else if err != nil {
				return rn.failed(f, "restage", err)
			}
			if rn.cfg.Cluster == nil { // a cluster cleans once delivered (see cluster.go)
				if err = rn.cleanSource(ctx, f); err != nil {
					return rn.failed(f, "clean", err)
				}
			}
			if rn.job.Transform == nil {
				// Nothing to make but what OpenPGP asks for (see
				// pgp.go): the staged copy is every other output, so
				// cleaned and transformed are one step, one record.
				// Its rows are not read: each of its deliveries is a
				// file-level disclosure. Nothing lies between that
				// record and the start of its first delivery: it goes
				// with it (unrecorded, see transformed). A crash
				// before leaves the file staged, and the next run
				// cleans again, which finds the source gone.
				if err = rn.preparePlain(ctx, f); errors.Is(err, errFileRejected) {
					rn.tally(func(r *Result) { r.Files++ })
					return nil
				} else if err != nil {
					return rn.failed(f, "transform", err)
				}
				crash.At("cleaned")
				return rn.transformed(ctx, f)
			}
			err = rn.setState(f, ledger.StateCleaned)
			crash.At("cleaned")
		case ledger.StateCleaned:
			if rn.cfg.Cluster != nil {
				if _, err = rn.restage(ctx, f); errors.Is(err, errFileRejected) {
					rn.tally(func(r *Result) { r.Files++ })
					return nil
				} else if err != nil {
					return rn.failed(f, "restage", err)
				}
			}
			if err = rn.prepare(ctx, f); errors.Is(err, errFileRejected) {
				rn.tally(func(r *Result) { r.Files++ })
				return nil // rejected whole: reported to the creditor, staging removed
			} else if err != nil {
				return rn.failed(f, "transform", err)
			}
			err = rn.setState(f, ledger.StateTransformed)
			crash.At("transformed")
		case ledger.StateTransformed:
			if err = rn.remake(ctx, f); errors.Is(err, errFileRejected) {
				rn.tally(func(r *Result) { r.Files++ })
				return nil
			} else if err != nil {
				return rn.failed(f, "restage", err)
			}
			if err = rn.deliverAll(ctx, f); err != nil {
				return rn.failed(f, "deliver", err)
			}
			return rn.finish(ctx, f)
		case ledger.StateDone, ledger.StateRejected:
			return nil
		default:
			return rn.failed(f, "resume", fmt.Errorf("exchange: file %d in unknown state %q", f.ID, f.State))
		}
		if err != nil {
			return rn.failed(f, "record", err)
		}
	}
}

// transformed delivers f, staged and its source cleaned, of a job
// without a transform, its outputs made (preparePlain), and takes it on
// to done: as advance from StateTransformed, but with the record of that
// state, and its unread mark, made with the start of its first delivery
// (rn.unrecorded, see startDelivery), or, if no delivery starts, here,
// before a failure is returned.
func (rn *run) transformed(ctx context.Context, f *ledger.File) error {
	rn.unrecorded = true
	err := rn.deliverAll(ctx, f)
	if rn.unrecorded {
		rn.unrecorded = false
		if rerr := rn.ledger.MarkTransformed(f.ID, true); rerr != nil {
			if err != nil {
				return rn.failed(f, "deliver", err)
			}
			return rn.failed(f, "record", rerr)
		}
		f.State = ledger.StateTransformed
		crash.At("transformed")
	}
	if err != nil {
		return rn.failed(f, "deliver", err)
	}
	return rn.finish(ctx, f)
}

// finish takes f, delivered to every destination, to done: in a cluster
// its source is cleaned now; then its staged copy is removed and the file
// recorded done. A file recorded done with its last delivery (see
// deliverAll) only has its staged copy removed: should that fail, the
// copy is left for the sweep at the next run (Runner.sweepStaging, also at
// every start), which removes what staging holds of a file that is done.
func (rn *run) finish(ctx context.Context, f *ledger.File) error {
	done := f.State == ledger.StateDone
	if !done && rn.cfg.Cluster != nil {
		if err := rn.cleanSource(ctx, f); err != nil {
			return rn.failed(f, "clean", err)
		}
	}
	removed := true
	if err := rn.staging.Remove(f.ID, f.Name); err != nil {
		if !done {
			return rn.failed(f, "unstage", err)
		}
		removed = false
		rn.fileLog(f).Error("staging not removed", zap.Int64("file_id", f.ID),
			zap.String("outcome", "left for the sweep at the next run"), zap.String("error", err.Error()))
		rn.sweepDue.Store(true)
	}
	crash.At("unstaged")
	if !done {
		if err := rn.setState(f, ledger.StateDone); err != nil {
			return rn.failed(f, "record", err)
		}
	}
	rn.tally(func(r *Result) { r.Files++ })
	if removed {
		rn.fileLog(f).Info("staging removed", zap.String("outcome", "done"), zap.String("sha256", f.SHA256))
	}
	return nil
}

func (rn *run) setState(f *ledger.File, state string) error {
	if err := rn.ledger.SetState(f.ID, state); err != nil {
		return err
	}
	f.State = state
	return nil
}

// list lists the job's source directory. A failure is returned for the
// run's retry loop, which tries it again or has it logged and counted.
func (rn *run) list(ctx context.Context, ep endpoint.Endpoint) ([]endpoint.FileInfo, error) {
	src := rn.job.Source
	ents, err := ep.List(ctx, src.Dir)
	if err == nil {
		return ents, nil
	}
	l := rn.log.With(zap.String("partner", src.Partner), zap.String("endpoint", ep.String()))
	return nil, &failure{err: err, step: "list", partner: src.Partner, log: l, record: func() error {
		l.Error("list failed", zap.String("outcome", "failed"), zap.String("error", err.Error()))
		rn.tally(func(r *Result) { r.Failed++ })
		return err
	}}
}

// discover lists the source and returns the new files that are settled,
// and the new files it refuses because they cannot be delivered as named
// (deliverable), for the caller to report once.
func (rn *run) discover(ctx context.Context) ([]endpoint.FileInfo, []refusal, error) {
	src := rn.job.Source
	ep, err := rn.endpoint(src.Partner)
	if err != nil {
		return nil, nil, err
	}
	ents, err := rn.list(ctx, ep)
	if err != nil {
		return nil, nil, err
	}
	present := make(map[string]endpoint.FileInfo, len(ents))
	for _, e := range ents {
		present[e.Name] = e
	}
	match := src.Pattern()
	var listed []endpoint.FileInfo
	for _, e := range ents {
		if strings.HasPrefix(e.Name, ".") || (src.DoneMarker != "" && strings.HasSuffix(e.Name, src.DoneMarker)) {
			continue // hidden files (our own temp names among them) and markers
		}
		if ok, _ := path.Match(match, e.Name); !ok {
			continue
		}
		l := func() *zap.Logger { // made only for a file logged about
			return rn.log.With(zap.String("partner", src.Partner), zap.String("endpoint", ep.String()), zap.String("file", e.Name))
		}
		if err := endpoint.CheckName(e.Name); err != nil {
			l().Warn("name rejected", zap.Bool("security", true), zap.String("outcome", "refused"), zap.String("error", err.Error()))
			continue
		}
		if e.Mode&fs.ModeSymlink != 0 {
			l().Warn("symlink refused", zap.Bool("security", true), zap.String("outcome", "refused"))
			continue
		}
		if !e.IsRegular() {
			continue
		}
		if src.DoneMarker != "" {
			if _, ok := present[e.Name+src.DoneMarker]; !ok {
				l().Debug("waiting for done marker", zap.String("outcome", "waiting"))
				continue
			}
		}
		listed = append(listed, e)
	}
	// Imported before (a kept source, one still being cleaned, or one
	// whose record was since purged): one question for the listing.
	ids := make([]ledger.Listed, len(listed))
	for i, e := range listed {
		ids[i] = ledger.Listed{Name: e.Name, Size: e.Size, ModTime: e.ModTime}
	}
	imported, err := rn.ledger.Imported(rn.job.Name, src.Partner, src.Dir, ids)
	if err != nil {
		return nil, nil, err
	}
	var cands []endpoint.FileInfo
	var refused []refusal
	for i, e := range listed {
		if imported[i] {
			continue
		}
		if err := deliverable(rn.job, e.Name); err != nil {
			refused = append(refused, refusal{fi: e, endpoint: ep.String(), err: err})
			continue
		}
		if ce := rn.log.Check(zap.DebugLevel, "file seen"); ce != nil {
			ce.Write(zap.String("partner", src.Partner), zap.String("endpoint", ep.String()), zap.String("file", e.Name), zap.Int64("bytes", e.Size))
		}
		cands = append(cands, e)
	}
	// Oldest first, then by name: the order a creditor wrote them in, as
	// near as the listing tells.
	slices.SortFunc(cands, func(a, b endpoint.FileInfo) int {
		if c := a.ModTime.Compare(b.ModTime); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(cands) == 0 || src.DoneMarker != "" || src.Settle == nil || src.Settle.D() <= 0 {
		return cands, refused, nil
	}
	settled, err := rn.settle(ctx, ep, cands)
	if err != nil {
		return nil, nil, err
	}
	return settled, refused, nil
}

// settle returns the candidates that are complete: their size and mtime
// held still across the job's settle interval. One wait covers every
// candidate of the run.
func (rn *run) settle(ctx context.Context, ep endpoint.Endpoint, cands []endpoint.FileInfo) ([]endpoint.FileInfo, error) {
	src := rn.job.Source
	if err := rn.Sleep(ctx, src.Settle.D()); err != nil {
		return nil, err
	}
	again, err := rn.list(ctx, ep)
	if err != nil {
		return nil, err
	}
	now := make(map[string]endpoint.FileInfo, len(again))
	for _, e := range again {
		now[e.Name] = e
	}
	settled := cands[:0]
	for _, c := range cands {
		n, ok := now[c.Name]
		if ok && n.Size == c.Size && n.ModTime.Equal(c.ModTime) && n.IsRegular() {
			settled = append(settled, c)
			continue
		}
		rn.log.Info("file not settled", zap.String("partner", src.Partner), zap.String("file", c.Name),
			zap.Int64("bytes", n.Size), zap.String("outcome", "changing"))
	}
	return settled, nil
}

// stage records a new file and copies it into staging. It returns nil, nil
// when the file turned out not to be settled after all.
//
// Until the copy is recorded staged, whatever fails (the staging disk full
// or read-only, a read error, a lost connection, the source gone) forgets
// the file: its row and what was written of its copy go, the source is
// untouched, and the next try or run lists the file again. Should the row
// outlive a failure (the ledger failing too), it stays in StateStaging,
// which advance forgets at the start of the next run.
func (rn *run) stage(ctx context.Context, fi endpoint.FileInfo) (_ *ledger.File, err error) {
	src := rn.job.Source
	f := &ledger.File{Job: rn.job.Name, Partner: src.Partner, Dir: src.Dir, Name: fi.Name,
		Size: fi.Size, ModTime: fi.ModTime}
	id, err := rn.ledger.AddFile(f)
	if err != nil {
		return nil, rn.failed(f, "record", err)
	}
	f.ID, f.State = id, ledger.StateStaging
	crash.At("seen")
	step := "stage"
	defer func() {
		if err == nil {
			return
		}
		if ferr := rn.forget(f); ferr != nil {
			rn.fileLog(f).Error("staging not forgotten", zap.String("outcome", "kept for the next run"),
				zap.String("error", ferr.Error()))
		} else {
			f.ID = 0 // gone from the ledger: nothing to record a failure on
		}
		if errors.Is(err, endpoint.ErrSizeMismatch) {
			rn.fileLog(f).Info("file not settled", zap.String("outcome", "changing"), zap.String("error", err.Error()))
			err = nil
			return
		}
		err = rn.failed(f, step, err)
	}()

	start := rn.Now()
	ep, err := rn.endpoint(src.Partner)
	if err != nil {
		return nil, err
	}
	n, sum, err := rn.copyIn(ctx, ep, f, fi)
	if err != nil {
		return nil, err
	}
	crash.At("staged-unrecorded")
	node := "" // in a cluster, this node holds the copy: recorded in the same write
	if rn.cfg.Cluster != nil {
		node = rn.cfg.Cluster.Node
	}
	if err := rn.ledger.MarkStagedOn(id, sum, n, node); err != nil {
		step = "record"
		return nil, err
	}
	f.State, f.SHA256, f.Size, f.StagedOn = ledger.StateStaged, sum, n, node
	rn.tally(func(r *Result) { r.Bytes += n })
	d := rn.Now().Sub(start)
	rn.fileLog(f).Info("file staged", zap.String("endpoint", ep.String()), zap.Int64("bytes", n),
		zap.String("sha256", sum), zap.Duration("duration", d), zap.String("outcome", "staged"))
	rn.observe(Event{Job: rn.job.Name, Partner: f.Partner, Step: "stage", Outcome: "ok", Bytes: n, Duration: d})
	crash.At("staged")
	return f, nil
}

// forget undoes the record of a file whose staged copy was never recorded
// (StateStaging): its row first, which the ledger deletes only while the
// file is in that state, then what staging holds for it. In that order a
// copy is never removed while the ledger may count it as staged. A copy
// that cannot be removed once the row is gone is removed by the sweep at
// the next start (Runner.sweepStaging).
func (rn *run) forget(f *ledger.File) error {
	if err := rn.ledger.DeleteFile(f.ID); err != nil {
		return err
	}
	if err := rn.staging.Remove(f.ID, f.Name); err != nil {
		rn.fileLog(f).Error("staging not removed", zap.Int64("file_id", f.ID),
			zap.String("outcome", "left for the sweep at the next start"), zap.String("error", err.Error()))
	}
	return nil
}

// copyIn streams the source file into staging, hashing as it goes, and
// checks that it read exactly the listed size. The bytes move within the
// transfer budget (budget.go), taken once the source is open.
func (rn *run) copyIn(ctx context.Context, ep endpoint.Endpoint, f *ledger.File, listed endpoint.FileInfo) (int64, string, error) {
	r, err := ep.OpenListed(ctx, join(f.Dir, f.Name), listed)
	if err != nil {
		return 0, "", err
	}
	defer r.Close()
	release, err := rn.budget.take(ctx, listed.Size)
	if err != nil {
		return 0, "", err
	}
	defer release()
	st, err := rn.staging.Receive(f.ID, f.Name) // trusted once marked staged
	if err != nil {
		return 0, "", err
	}
	defer st.Abort() // nothing once committed
	n, err := copyContext(ctx, st, r, r.Abort, st.Abort)
	if err != nil {
		st.Abort()
		return 0, "", err
	}
	if n != f.Size {
		st.Abort()
		return 0, "", fmt.Errorf("%w: %q listed %d bytes, read %d", endpoint.ErrSizeMismatch, f.Name, f.Size, n)
	}
	return st.Commit()
}

// join joins a directory and a checked name.
func join(dir, name string) string { return path.Join(dir, name) }
