package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/internal/ops"
	"github.com/exchanged/exchanged/ledger"
	"github.com/exchanged/exchanged/schedule"
)

// daemon is what "exchanged run" keeps for its whole life: the ledger, the
// scheduler, the metrics and the ops endpoint, and the config in force,
// which a reload replaces between runs.
type daemon struct {
	path    string // the config file, read again on reload
	app     *app   // the logger, the ledger and the state_dir lock
	log     *zap.Logger
	ledger  *ledger.Ledger
	sched   *schedule.Scheduler
	metrics *ops.Metrics
	srv     *ops.Server // the ops endpoint; nil when http.listen is ""
	overdue *overdueTracker

	mu       sync.Mutex
	cfg      *config.Config
	runner   *exchange.Runner // the runner of cfg
	failing  map[string]int   // consecutive failed runs per job
	alerted  map[string]bool  // jobs whose "job failing" event was logged and not yet recovered
	stopping bool

	flags logFlags // --log-level and --log-format, applied again on reload
	gate  jobGate  // keeps file actions (exchanged files) and runs of a job apart
}

// openDaemon sets up everything the daemon keeps, once: the logger, the
// state_dir and its lock, the ledger, the one runner of cfg, the scheduler
// with cfg's jobs (not started), the failure counts from the ledger, and
// the ops endpoint, listening. No job runs before serve. On error it
// undoes what it had set up and returns a nil daemon.
func openDaemon(path string, cfg *config.Config, logw io.Writer) (_ *daemon, err error) {
	a, err := openApp(cfg, logw)
	if err != nil {
		return nil, err
	}
	d := &daemon{path: path, app: a, log: a.log, ledger: a.ledger, cfg: cfg,
		failing: map[string]int{}, alerted: map[string]bool{}}
	d.metrics = ops.NewMetrics(version, d.staging)
	if cfg.Cluster != nil {
		d.metrics.Cluster(cfg.Cluster.Node, slices.Sorted(maps.Keys(cfg.Jobs)))
	}
	d.sched = schedule.New(schedule.Options{Location: cfg.Location, Logger: a.log.Named("schedule"),
		MaxConcurrent: maxConcurrent(cfg), Jitter: jitter(cfg)})
	defer func() {
		if err != nil {
			_ = d.sched.Stop(context.Background()) // never started: frees its context
			_ = a.Close()
		}
	}()
	if d.runner, err = d.newRunner(cfg); err != nil {
		return nil, err
	}
	if err = d.sched.Replace(d.entries(cfg, d.runner)); err != nil {
		return nil, err
	}
	if err = d.track(cfg); err != nil {
		return nil, err
	}
	d.overdue = newOverdueTracker(a.ledger, a.log, d.metrics)
	d.overdue.set(cfg)
	d.overdue.tick(time.Now()) // checked before the first scrape: /metrics is right from the start
	if addr := listenAddr(cfg); addr != "" {
		h := &ops.Handler{Metrics: d.metrics, Ready: d.ready, Trigger: d.sched.Trigger, Log: a.log.Named("http")}
		h.Status = d.status
		h.Files = daemonFiles{d}
		h.Hosts = opsHosts(cfg)
		if d.srv, err = ops.Listen(addr, h, a.log); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// serve runs every job on its schedule until ctx is cancelled, reloading
// the config file on each SIGHUP. Then it drains: it stops taking new runs
// and lets those in flight finish for up to drain, cancelling them after,
// and stops the ops endpoint. It returns once every run has returned.
func (d *daemon) serve(ctx context.Context, drain time.Duration) {
	// SIGHUP is ours from here on: before, its default action ends the
	// process, which is right for a daemon that has not started.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Runs get a context of their own: the first signal stops new runs
	// but lets those in flight finish, up to the drain timeout.
	d.sched.Start(context.WithoutCancel(ctx))
	octx, stopOverdue := context.WithCancel(ctx)
	var overdue sync.WaitGroup
	overdue.Add(1)
	go func() {
		defer overdue.Done()
		d.overdue.run(octx)
	}()
	fields := []zap.Field{zap.Int("jobs", len(d.cfg.Jobs)), zap.String("state_dir", d.cfg.StateDir),
		zap.String("version", version)}
	if d.srv != nil {
		fields = append(fields, zap.String("http", d.srv.Addr()))
	}
	d.log.Info("started", fields...)
	daily := time.NewTimer(purgeDelay) // the retention purge: soon after start, then daily
	defer daily.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-daily.C:
			d.purge()
			daily.Reset(purgePeriod)
		case <-hup:
			d.log.Info("reloading config", zap.String("config", d.path))
			_ = d.reload() // logged; the old config stays in force on error
		}
	}
	stopOverdue()
	overdue.Wait()
	d.drain(drain)
}

// drain stops the daemon taking new runs, waits up to timeout for those in
// flight, then cancels what is left, and stops the ops endpoint.
func (d *daemon) drain(timeout time.Duration) {
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	d.log.Info("stopping", zap.Duration("drain", timeout))
	dctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := d.sched.Stop(dctx); err != nil {
		d.log.Warn("drain cut short", zap.String("error", err.Error()))
	}
	if d.srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.srv.Close(sctx)
	}
	d.log.Info("stopped")
}

// Close stops the ops endpoint if serve did not, closes the ledger and
// releases the state_dir lock. It returns the ledger's close error.
func (d *daemon) Close() error {
	if d.srv != nil {
		_ = d.srv.Close(context.Background())
	}
	return d.app.Close()
}

// alertAfter is how many consecutive failed runs of a job make a "job
// failing" error event.
func (d *daemon) alertAfter() int {
	return alertAfter(d.cfg)
}

// newRunner returns a runner for cfg on the daemon's ledger, feeding the
// metrics.
func (d *daemon) newRunner(cfg *config.Config) (*exchange.Runner, error) {
	r, err := newRunner(cfg, d.ledger, d.log)
	if err != nil {
		return nil, err
	}
	r.LeaseHeld = d.metrics.JobLease
	r.Observe = func(e exchange.Event) {
		if e.Step == "lease" {
			d.metrics.LeaseLost(e.Job) // Outcome "lost"
			return
		}
		if e.Outcome == "retry" {
			d.metrics.Retry(e.Job, e.Step)
			return
		}
		d.metrics.FileStep(e.Job, e.Partner, e.Step, e.Outcome, e.Bytes, e.Rows, e.Rejected)
	}
	return r, nil
}

// entries returns the scheduler's jobs for cfg, each running on r.
func (d *daemon) entries(cfg *config.Config, r *exchange.Runner) map[string]schedule.Entry {
	es := make(map[string]schedule.Entry, len(cfg.Jobs))
	for name, j := range cfg.Jobs {
		es[name] = schedule.Entry{Spec: j.Schedule, Func: func(ctx context.Context) error {
			return d.runJob(ctx, r, name)
		}}
	}
	return es
}

// runJob runs one job once and records how it went.
func (d *daemon) runJob(ctx context.Context, r *exchange.Runner, name string) error {
	defer d.gate.hold(name)() // no file action on the job meanwhile
	start := time.Now()
	_, err := r.Run(ctx, name)
	if errors.Is(err, exchange.ErrHeldElsewhere) {
		d.heldElsewhere(name)
		return nil // another node of the cluster runs it: no run here
	}
	outcome := "ok"
	switch {
	case err != nil && (ctx.Err() != nil || errors.Is(err, exchange.ErrLeaseLost)):
		outcome = exchange.OutcomeInterrupted // as the runner recorded it
	case err != nil:
		outcome = "failed"
	}
	d.overdue.ran(name) // a file the run saw clears an overdue one; before the run is counted done
	d.finished(name, outcome, time.Since(start))
	return err
}

// finished counts a run's outcome. The "job failing" error event is logged
// once, when a job's consecutive failed runs reach alert_after, and "job
// recovered" once when it succeeds again: not on every run. A run
// interrupted by shutdown is no verdict: it leaves the count as it was.
func (d *daemon) finished(job, outcome string, took time.Duration) {
	d.mu.Lock()
	prev := d.failing[job]
	n, alert, recovered := prev, false, false
	switch outcome {
	case exchange.OutcomeInterrupted:
	case "ok":
		n = 0
		recovered = d.alerted[job]
		delete(d.alerted, job)
	default:
		n = prev + 1
		if n >= d.alertAfter() && !d.alerted[job] {
			alert = true
			d.alerted[job] = true
		}
	}
	d.failing[job] = n
	d.mu.Unlock()

	switch {
	case alert:
		d.log.Error("job failing", zap.String("job", job), zap.Int("failed_runs", n),
			zap.String("outcome", "failing"),
			zap.String("error", fmt.Sprintf("%d consecutive runs failed; files wait in staging or at the source; see the run events", n)))
	case recovered:
		d.log.Info("job recovered", zap.String("job", job), zap.Int("failed_runs", prev),
			zap.String("outcome", "recovered"))
	}
	d.metrics.RunFinished(job, outcome, took, time.Now(), n) // last: once counted, the run is wholly done
}

// track starts counting the jobs of cfg that are not counted yet, from the
// ledger's record of their last runs, so that a restart neither forgets a
// failing job nor alerts on it again, nor hides when a job last succeeded.
func (d *daemon) track(cfg *config.Config) error {
	for _, name := range slices.Sorted(maps.Keys(cfg.Jobs)) {
		d.mu.Lock()
		_, known := d.failing[name]
		d.mu.Unlock()
		if known {
			continue
		}
		n, last, err := d.jobRecord(name)
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.failing[name] = n
		if n >= alertAfter(cfg) {
			d.alerted[name] = true // alerted on before the restart
		}
		d.mu.Unlock()
		d.metrics.Job(name, n, last)
	}
	return nil
}

// jobRecord returns, from the ledger, job's failed runs since its last
// good one and when that finished.
func (d *daemon) jobRecord(name string) (int, time.Time, error) {
	runs, err := d.ledger.Runs(name, 1000)
	if err != nil {
		return 0, time.Time{}, err
	}
	n := 0
	for _, r := range runs {
		if r.Outcome == "ok" {
			break
		}
		if r.Outcome == "failed" { // "" never finished (a crash), "interrupted" by shutdown: no verdict
			n++
		}
	}
	last, _, err := d.ledger.LastSuccess(name)
	return n, last, err
}

// ready reports whether the daemon serves: config loaded, ledger open, not
// stopping.
func (d *daemon) ready() error {
	d.mu.Lock()
	stopping, cfg := d.stopping, d.cfg
	d.mu.Unlock()
	switch {
	case stopping:
		return errors.New("stopping")
	case cfg == nil:
		return errors.New("no config loaded")
	}
	if _, err := d.ledger.PendingCount(); err != nil {
		return errors.New("ledger not readable")
	}
	return nil
}

// staging returns the files waiting in staging per job of the config in
// force, zeros included.
func (d *daemon) staging() (map[string]int, error) {
	counts, err := d.ledger.PendingCount()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	for name := range d.cfg.Jobs {
		if _, ok := counts[name]; !ok {
			counts[name] = 0
		}
	}
	d.mu.Unlock()
	return counts, nil
}

// reload reads the config file again and, if it is valid and changes
// nothing that needs a restart, makes it the config in force: its jobs
// replace the old between runs, each running on a new runner over the same
// ledger. On any error the old config stays in force.
func (d *daemon) reload() error {
	cfg, err := loadConfig(d.path)
	if err == nil {
		d.flags.apply(cfg)
		d.mu.Lock()
		err = restartOnly(d.cfg, cfg)
		d.mu.Unlock()
	}
	var r *exchange.Runner
	if err == nil {
		r, err = d.newRunner(cfg)
	}
	if err == nil {
		d.mu.Lock()
		r.ShareLimits(d.runner) // runs of the old runner may still be under way
		err = r.OpensWhatSeals(d.runner)
		d.mu.Unlock()
	}
	if err == nil {
		err = d.track(cfg) // only adds counts for new jobs: harmless if Replace then fails
	}
	if err == nil {
		err = d.sched.Replace(d.entries(cfg, r))
	}
	d.metrics.Reload(err == nil)
	if err != nil {
		d.log.Error("config reload failed", zap.String("outcome", "kept"), zap.String("error", err.Error()))
		return err
	}
	d.mu.Lock()
	old := d.cfg
	d.cfg, d.runner = cfg, r
	for name := range old.Jobs {
		if cfg.Jobs[name] == nil {
			delete(d.failing, name)
			delete(d.alerted, name)
			d.metrics.Forget(name)
		}
	}
	d.mu.Unlock()
	d.overdue.set(cfg)
	d.log.Info("config reloaded", zap.String("outcome", "reloaded"), zap.Int("jobs", len(cfg.Jobs)))
	return nil
}

// restartOnly returns an error naming each setting that differs between
// old and new and that a reload cannot change: the ledger, the scheduler's
// clock and limits, the logger and the ops endpoint are made once.
func restartOnly(old, new *config.Config) error {
	var errs []error
	diff := func(key, a, b string) {
		if a != b {
			errs = append(errs, fmt.Errorf("%s: changed from %q to %q; restart exchanged to apply it", key, a, b))
		}
	}
	diff("state_dir", old.StateDir, new.StateDir)
	diff("ledger.postgres", old.Ledger.Postgres.Ref, new.Ledger.Postgres.Ref) // the references, never the values
	diff("ledger.key", old.Ledger.Key.Ref, new.Ledger.Key.Ref)
	diff("cluster", clusterString(old), clusterString(new))
	diff("timezone", old.Timezone, new.Timezone)
	diff("log.level", old.Log.Level, new.Log.Level)
	diff("log.format", old.Log.Format, new.Log.Format)
	diff("http.listen", listenAddr(old), listenAddr(new))
	diff("http.hosts", strings.Join(old.HTTP.Hosts, ", "), strings.Join(new.HTTP.Hosts, ", "))
	for _, k := range restartOnlyRuns(old, new) {
		errs = append(errs, k)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	return nil
}

// listenAddr returns the ops endpoint's address, "" when it is off.
func listenAddr(cfg *config.Config) string {
	if cfg.HTTP.Listen == nil {
		return config.DefaultListen
	}
	return *cfg.HTTP.Listen
}

// opsHosts are the host names the ops endpoint answers to beside IP
// addresses and localhost: http.hosts, and the host of http.listen when
// it is a name (exchanged files asks the endpoint by it).
func opsHosts(cfg *config.Config) []string {
	hosts := slices.Clone(cfg.HTTP.Hosts)
	if host, _, err := net.SplitHostPort(listenAddr(cfg)); err == nil && host != "" {
		hosts = append(hosts, host)
	}
	return hosts
}

// When the daemon purges the ledger: purgeDelay after it starts, then
// every purgePeriod.
var (
	purgeDelay  = time.Minute
	purgePeriod = 24 * time.Hour
)

// purge applies the retention of the config in force to the ledger, and
// counts what went in the metrics. A failure is logged; the next day's
// purge tries again.
func (d *daemon) purge() {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	if !d.purgeHere(cfg) {
		return
	}
	res, err := purge(d.ledger, cfg, time.Now(), false, d.log.Named("retention"))
	if err != nil {
		return
	}
	for table, n := range map[string]int{"files": res.Files, "deliveries": res.Deliveries,
		"subjects": res.Subjects, "runs": res.Runs, "file_actions": res.Actions, "audit": res.Audit} {
		d.metrics.Purged(table, n)
	}
}
