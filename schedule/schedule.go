package schedule

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// Errors returned by the Scheduler, wrapped with the job name; test with errors.Is.
var (
	// ErrUnknownJob: no job has that name.
	ErrUnknownJob = errors.New("schedule: unknown job")
	// ErrDuplicateJob: Add was given a name already in use.
	ErrDuplicateJob = errors.New("schedule: duplicate job")
	// ErrRunning: the job has a run in progress (waiting for jitter or a slot, or executing).
	ErrRunning = errors.New("schedule: job is running")
	// ErrStopped: the scheduler is stopping or stopped and starts no more runs.
	ErrStopped = errors.New("schedule: stopped")
)

// maxSleep caps how long the loop sleeps between looks at the clock, so that a wall-clock
// step (NTP, a resumed VM) delays a run by at most this much.
const maxSleep = time.Minute

// Trigger values, in the "trigger" log field.
const (
	triggerSchedule = "schedule"
	triggerManual   = "manual"
)

// Options configure a Scheduler. The zero value is usable.
type Options struct {
	Location      *time.Location // schedules are read in this zone; nil means DefaultTimezone
	MaxConcurrent int            // most runs executing at once, over all jobs; 0 or less: no limit
	Jitter        time.Duration  // a scheduled (not a triggered) run waits a random [0, Jitter) first; 0: none
	Logger        *zap.Logger    // nil: no logs
}

// Func is the work of one run. ctx is cancelled only on a hard stop (see Scheduler.Stop).
// The error string is logged: it must carry no personal data.
type Func func(ctx context.Context) error

// Entry is one job for Replace.
type Entry struct {
	Spec string // as for ParseSpec
	Func Func
}

// A Scheduler runs jobs on cron schedules. A job never overlaps itself: from the moment a
// run is due until it returns (including the time it waits for jitter or for a
// MaxConcurrent slot) the job counts as running; a scheduled time that comes meanwhile is
// skipped and logged, and Trigger returns ErrRunning. So at most one run per job is ever
// queued or executing.
//
// The methods are safe for concurrent use.
type Scheduler struct {
	loc    *time.Location
	jitter time.Duration
	randN  func(time.Duration) time.Duration // rand.N; tests make it predictable
	log    *zap.Logger
	slots  chan struct{} // a token per executing run; nil when unlimited

	runCtx     context.Context    // given to runs; cancelled only by a hard stop
	cancelRuns context.CancelFunc //
	stopping   chan struct{}      // closed when no more runs may start
	wake       chan struct{}      // the job set changed: the loop looks again
	wg         sync.WaitGroup     // the loop and every run

	mu      sync.Mutex
	jobs    map[string]*job
	active  map[string]bool // job names with a run claimed, even if the job was since replaced
	started bool
	stopped bool
}

type job struct {
	name  string
	spec  string
	sched cron.Schedule
	fn    Func
	next  time.Time // zero: never
}

// New returns a Scheduler with no jobs; Add them, then Start it.
func New(opts Options) *Scheduler {
	loc := opts.Location
	if loc == nil {
		loc = defaultLocation()
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{
		loc:        loc,
		jitter:     max(opts.Jitter, 0),
		randN:      rand.N[time.Duration],
		log:        log,
		runCtx:     ctx,
		cancelRuns: cancel,
		stopping:   make(chan struct{}),
		wake:       make(chan struct{}, 1),
		jobs:       make(map[string]*job),
		active:     make(map[string]bool),
	}
	if opts.MaxConcurrent > 0 {
		s.slots = make(chan struct{}, opts.MaxConcurrent)
	}
	return s
}

func (s *Scheduler) newJob(name string, e Entry) (*job, error) {
	if name == "" {
		return nil, errors.New("schedule: job with an empty name")
	}
	if e.Func == nil {
		return nil, fmt.Errorf("schedule: job %q: no func", name)
	}
	sched, err := parseSpec(e.Spec, s.loc)
	if err != nil {
		return nil, fmt.Errorf("schedule: job %q: spec %q: %w", name, e.Spec, err)
	}
	return &job{name: name, spec: e.Spec, sched: sched, fn: e.Func}, nil
}

// Add adds a job. Its name must be new; the error names the job.
func (s *Scheduler) Add(name, spec string, fn Func) error {
	j, err := s.newJob(name, Entry{Spec: spec, Func: fn})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("schedule: add job %q: %w", name, ErrStopped)
	}
	if _, dup := s.jobs[name]; dup {
		return fmt.Errorf("schedule: add job %q: %w", name, ErrDuplicateJob)
	}
	j.next = j.sched.Next(time.Now())
	s.jobs[name] = j
	s.poke()
	return nil
}

// Replace makes jobs the complete job set, for a config reload. It checks every entry
// first and changes nothing if any is invalid; the error names each bad job. Jobs not in
// jobs are removed, new ones added. A job whose spec is unchanged keeps its next time; a
// changed spec is timed afresh from now. Changes take effect between runs: a run in progress
// finishes with the Func it started with, and the job (under its name) counts as running
// until then, so the new definition does not overlap it.
func (s *Scheduler) Replace(jobs map[string]Entry) error {
	fresh := make(map[string]*job, len(jobs))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(jobs)) {
		j, err := s.newJob(name, jobs[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fresh[name] = j
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return fmt.Errorf("schedule: replace jobs: %w", ErrStopped)
	}
	now := time.Now()
	var added, changed, removed []string
	for name, j := range fresh {
		old, ok := s.jobs[name]
		switch {
		case !ok:
			added = append(added, name)
			j.next = j.sched.Next(now)
		case old.spec != j.spec:
			changed = append(changed, name)
			j.next = j.sched.Next(now)
		default:
			j.next = old.next
		}
	}
	for name := range s.jobs {
		if _, ok := fresh[name]; !ok {
			removed = append(removed, name)
		}
	}
	s.jobs = fresh
	s.poke()
	s.mu.Unlock()

	slices.Sort(added)
	slices.Sort(changed)
	slices.Sort(removed)
	s.log.Info("jobs replaced", zap.Int("jobs", len(fresh)),
		zap.Strings("added", added), zap.Strings("changed", changed), zap.Strings("removed", removed))
	return nil
}

// Start starts running jobs on their schedules and returns at once. Jobs are timed from
// now. When ctx is done the scheduler stops starting runs, as when Stop is called, but
// runs in progress keep going: call Stop to wait for them. Start does nothing after the
// first call or after Stop.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	now := time.Now()
	for _, j := range s.jobs {
		j.next = j.sched.Next(now)
	}
	s.wg.Add(1)
	go s.loop(ctx)
}

func (s *Scheduler) loop(ctx context.Context) {
	defer s.wg.Done()
	timer := time.NewTimer(maxSleep)
	defer timer.Stop()
	for {
		wait, skipped := s.tick(time.Now())
		for _, name := range skipped {
			s.logSkip(name, triggerSchedule, "still running")
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
		case <-s.stopping:
			return
		case <-ctx.Done():
			s.beginStop()
			return
		}
	}
}

// tick starts the runs due at now, returns how long to sleep, and the jobs whose due run
// was skipped because they were still running.
func (s *Scheduler) tick(now time.Time) (wait time.Duration, skipped []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait = maxSleep
	if s.stopped {
		return wait, nil
	}
	for _, name := range slices.Sorted(maps.Keys(s.jobs)) { // sorted: runs queue for slots in a stable order
		j := s.jobs[name]
		if j.next.IsZero() {
			continue
		}
		if !now.Before(j.next) {
			if !s.startLocked(j, triggerSchedule) {
				skipped = append(skipped, name)
			}
			if j.next = j.sched.Next(now); j.next.IsZero() {
				continue
			}
		}
		wait = min(wait, j.next.Sub(now))
	}
	return wait, skipped
}

// Trigger starts a run of the job now, outside its schedule and without jitter; it still
// waits for a MaxConcurrent slot. It returns ErrUnknownJob, ErrStopped, or, if the job
// is running, ErrRunning (and logs the skip).
func (s *Scheduler) Trigger(name string) error {
	s.mu.Lock()
	j, ok := s.jobs[name]
	switch {
	case s.stopped:
		s.mu.Unlock()
		return fmt.Errorf("schedule: trigger %q: %w", name, ErrStopped)
	case !ok:
		s.mu.Unlock()
		return fmt.Errorf("schedule: trigger %q: %w", name, ErrUnknownJob)
	}
	started := s.startLocked(j, triggerManual)
	s.mu.Unlock()
	if !started {
		s.logSkip(name, triggerManual, "still running")
		return fmt.Errorf("schedule: trigger %q: %w", name, ErrRunning)
	}
	return nil
}

// startLocked claims j and starts its run, unless j is running already.
func (s *Scheduler) startLocked(j *job, trigger string) bool {
	if s.active[j.name] {
		return false
	}
	s.active[j.name] = true
	var delay time.Duration
	if trigger == triggerSchedule && s.jitter > 0 {
		delay = s.randN(s.jitter)
	}
	s.wg.Add(1)
	go s.run(j.name, j.fn, trigger, delay)
	return true
}

// run waits for its jitter and a slot, unless the scheduler stops first, then calls fn.
func (s *Scheduler) run(name string, fn Func, trigger string, delay time.Duration) {
	defer s.wg.Done()
	defer s.release(name)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.stopping:
			t.Stop()
			s.logSkip(name, trigger, "stopping")
			return
		}
	}
	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		case <-s.stopping:
			s.logSkip(name, trigger, "stopping")
			return
		}
	}
	select {
	case <-s.stopping: // a stop and a slot ready at once: the stop wins
		s.logSkip(name, trigger, "stopping")
		return
	default:
	}

	log := s.log.With(zap.String("job", name), zap.String("trigger", trigger))
	log.Info("run started")
	start := time.Now()
	err := call(s.runCtx, fn)
	duration := time.Since(start)
	// The job logs its own "run finished" with its outcome: the scheduler's
	// note is at debug level, so that each run is reported once. A panic is
	// the scheduler's to report.
	if errors.Is(err, errPanic) {
		log.Error("run panicked", zap.Duration("duration", duration), zap.String("outcome", "failed"), zap.String("error", err.Error()))
		return
	}
	if err != nil {
		log.Debug("run returned", zap.Duration("duration", duration), zap.String("outcome", "failed"), zap.String("error", err.Error()))
		return
	}
	log.Debug("run returned", zap.Duration("duration", duration), zap.String("outcome", "ok"))
}

// errPanic is the error of a run whose Func panicked.
var errPanic = errors.New("schedule: run panicked")

// call runs fn, turning a panic into an error so that one broken job does not end
// every other job's transfers.
func call(ctx context.Context, fn Func) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return fn(ctx)
}

func (s *Scheduler) release(name string) {
	s.mu.Lock()
	delete(s.active, name)
	s.mu.Unlock()
}

func (s *Scheduler) logSkip(name, trigger, reason string) {
	lvl := zap.WarnLevel
	if reason == "stopping" {
		lvl = zap.InfoLevel
	}
	s.log.Log(lvl, "run skipped", zap.String("job", name), zap.String("trigger", trigger), zap.String("reason", reason))
}

// poke wakes the loop to look at the job set again.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) beginStop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		close(s.stopping)
	}
}

// Stop stops starting runs (runs still waiting for jitter or a slot are dropped, and
// logged) and waits for the runs in progress to finish, which they do with their context
// intact. If ctx is done first, Stop cancels the runs' context, waits for them to return,
// and returns ctx.Err(): when Stop returns, no run is executing. Stop may be called more
// than once, and without Start.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.beginStop()
	defer s.cancelRuns() // every run has returned by then; frees the context
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	default:
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	running := slices.Sorted(maps.Keys(s.active))
	s.mu.Unlock()
	s.log.Warn("stop: drain cut short, cancelling runs", zap.Strings("jobs", running), zap.String("error", ctx.Err().Error()))
	s.cancelRuns()
	<-done
	return ctx.Err()
}

// Next returns the job's next scheduled time (before jitter); ok is false for an unknown
// job. The time is zero if the job never fires again.
func (s *Scheduler) Next(name string) (next time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[name]
	if !ok {
		return time.Time{}, false
	}
	return j.next, true
}

// Running reports whether a run of the job is in progress: waiting for jitter or a
// MaxConcurrent slot, or executing.
func (s *Scheduler) Running(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active[name]
}

// Jobs returns the names of the jobs, sorted.
func (s *Scheduler) Jobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.jobs))
}
