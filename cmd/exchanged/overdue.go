package main

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/ops"
)

// overdueStore is what the overdue tracker reads and records in the ledger.
type overdueStore interface {
	LastSeen(job string) (time.Time, bool, error)
	OverdueAnnounced(job string) (time.Time, error)
	SetOverdueAnnounced(job string, due time.Time) error
	ForgetOverdueAnnounced(keep []string) error
}

// overdueMaxSleep caps the tracker's sleep, so that a wall-clock step (NTP,
// a resumed VM) delays a due time's check by at most this much. A wake with
// no due time passed reads nothing.
const overdueMaxSleep = time.Minute

// lookBack is how far before now the tracker looks for the last due time:
// a days field matches at least one day of every week.
const lookBack = 8 * 24 * time.Hour

// overdueTracker watches the jobs with an expect (config.Expect): at each
// due time, after each run of a job that is overdue and at each wake (at
// least once a minute) while a job is overdue, it checks whether
// a file of the job was seen that day, and keeps the metrics'
// exchanged_file_overdue and Overdue up to date. A due time that passes
// unmet is announced once, with a "file overdue" error event, recorded in
// the ledger so that a restart does not announce it again.
type overdueTracker struct {
	store   overdueStore
	log     *zap.Logger
	metrics *ops.Metrics
	now     func() time.Time
	wake    chan struct{}

	cmu sync.Mutex // one check at a time: a due time is announced once

	mu   sync.Mutex // guards what follows and the fields of each expected
	loc  *time.Location
	jobs map[string]*expected
}

// expected is one job's expectation and the due time last checked.
type expected struct {
	partner, dir string
	due          cron.Schedule
	checked      time.Time // the last due time checked; zero: check at the next look
	overdue      bool
}

func newOverdueTracker(store overdueStore, log *zap.Logger, m *ops.Metrics) *overdueTracker {
	return &overdueTracker{store: store, log: log, metrics: m, now: time.Now,
		wake: make(chan struct{}, 1), jobs: map[string]*expected{}}
}

// set makes the jobs of cfg with an expect the ones watched, each to be
// checked at the next look; a job no longer watched loses its gauge and
// its record in the ledger of the last due time announced. cfg
// is valid, so every expect parses.
func (o *overdueTracker) set(cfg *config.Config) {
	loc := cfg.Location
	if loc == nil { // a config not made by Parse: the zone Due reads it in
		loc, _ = time.LoadLocation(config.DefaultTimezone)
	}
	o.mu.Lock()
	o.loc = loc
	old := o.jobs
	o.jobs = map[string]*expected{}
	for name, j := range cfg.Jobs {
		if j.Expect == nil {
			continue
		}
		due, err := j.Expect.Due(loc)
		if err != nil { // Validate refused it already
			o.log.Error("expect not understood", zap.String("job", name), zap.String("error", err.Error()))
			continue
		}
		e := &expected{partner: j.Source.Partner, dir: j.Source.Dir, due: due}
		if prev := old[name]; prev != nil {
			e.overdue = prev.overdue
		}
		o.jobs[name] = e
	}
	var dropped []string
	for name := range old {
		if o.jobs[name] == nil {
			dropped = append(dropped, name)
		}
	}
	for name := range o.jobs {
		if old[name] == nil {
			o.metrics.SetOverdue(name, false, time.Time{}) // exists at 0 until checked
		}
	}
	keep := slices.Sorted(maps.Keys(o.jobs))
	o.mu.Unlock()
	for _, name := range dropped {
		o.metrics.DropOverdue(name)
	}
	// The ledger's records of jobs no longer watched (deleted, or without
	// an expect now) go, at start and at each reload; after any check of
	// such a job still under way, which could record one again.
	o.cmu.Lock()
	if err := o.store.ForgetOverdueAnnounced(keep); err != nil {
		o.log.Warn("overdue records of former jobs not removed", zap.String("error", err.Error()))
	}
	o.cmu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run checks the watched jobs at once, then at each due time, until ctx is
// done. It returns when ctx is done.
func (o *overdueTracker) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-o.wake:
		}
		timer.Reset(o.tick(o.now()))
	}
}

// tick checks every watched job whose last due time at now was not checked
// yet, and every job that is overdue, and returns how long to sleep until the next due time (at most
// overdueMaxSleep).
func (o *overdueTracker) tick(now time.Time) time.Duration {
	o.mu.Lock()
	var todo []string
	wait := overdueMaxSleep
	for _, name := range slices.Sorted(maps.Keys(o.jobs)) {
		e := o.jobs[name]
		// An overdue job is looked at on every wake: its file may have been
		// seen by a run not through this daemon (exchanged run, once, or
		// files), which ran does not hear of; one ledger read a minute.
		if due := lastDue(e.due, now); e.checked.IsZero() || !due.Equal(e.checked) || e.overdue {
			todo = append(todo, name)
		}
		if next := e.due.Next(now); !next.IsZero() {
			wait = min(wait, next.Sub(now))
		}
	}
	if len(o.jobs) == 0 {
		wait = 24 * time.Hour // nothing to watch; set wakes the loop
	}
	o.mu.Unlock()
	for _, name := range todo {
		o.check(name, now)
	}
	return max(wait, 0)
}

// ran checks the job after a run of it, if it is overdue: the run may have
// seen its file.
func (o *overdueTracker) ran(name string) {
	o.mu.Lock()
	e := o.jobs[name]
	overdue := e != nil && e.overdue
	o.mu.Unlock()
	if overdue {
		o.check(name, o.now())
	}
}

// check decides whether the job's file is overdue at now, announces a due
// time that passed unmet if it was not announced before, and sets the
// metrics. A ledger read that fails is logged and leaves the state as it
// was, to be checked again at the tracker's next wake (within
// overdueMaxSleep).
func (o *overdueTracker) check(name string, now time.Time) {
	o.cmu.Lock()
	defer o.cmu.Unlock()
	o.mu.Lock()
	loc, e := o.loc, o.jobs[name]
	o.mu.Unlock()
	if e == nil { // gone in a reload meanwhile
		return
	}
	due := lastDue(e.due, now)
	overdue := false
	if !due.IsZero() {
		seen, ok, err := o.store.LastSeen(name)
		if err != nil {
			o.log.Warn("overdue check failed", zap.String("job", name), zap.String("error", err.Error()))
			return
		}
		overdue = !ok || seen.Before(dayStart(due, loc))
	}
	if overdue {
		announced, err := o.store.OverdueAnnounced(name)
		if err != nil {
			o.log.Warn("overdue check failed", zap.String("job", name), zap.String("error", err.Error()))
			return
		}
		if announced.Before(due) {
			// Recorded first: should the record fail, the event is still
			// logged, and may be logged again after a restart.
			if err := o.store.SetOverdueAnnounced(name, due); err != nil {
				o.log.Warn("overdue not recorded", zap.String("job", name), zap.String("error", err.Error()))
			}
			o.log.Error("file overdue", zap.String("job", name), zap.String("partner", e.partner),
				zap.String("dir", e.dir), zap.String("due", due.In(loc).Format(time.RFC3339)),
				zap.String("outcome", "overdue"),
				zap.String("error", "no file of the job seen from 00:00 until the due time"))
		}
	}
	o.mu.Lock()
	e.checked, e.overdue = due, overdue
	current := o.jobs[name] == e
	o.mu.Unlock()
	if current {
		o.metrics.SetOverdue(name, overdue, due)
	}
}

// lastDue returns the last due time of s at or before now, or the zero time
// if none was in the week before.
func lastDue(s cron.Schedule, now time.Time) time.Time {
	var last time.Time
	t := s.Next(now.Add(-lookBack))
	for i := 0; i < 32 && !t.IsZero() && !t.After(now); i++ { // a due time a day at most: 8 or 9 steps
		last = t
		t = s.Next(t)
	}
	return last
}

// dayStart returns 00:00 of t's day in loc.
func dayStart(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}
