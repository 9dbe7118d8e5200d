package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/ops"
)

func amsterdam(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at parses "2006-01-02 15:04" in loc.
func at(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// lastDue and dayStart: weekdays, a week end, and both daylight-saving
// change days in Europe/Amsterdam (29 March and 25 October 2026).
func TestLastDue(t *testing.T) {
	ams := amsterdam(t)
	utc := func(s string) time.Time { return at(t, time.UTC, s) }
	for _, tc := range []struct {
		by, days string
		now      time.Time
		want     time.Time // the last due time
		start    time.Time // 00:00 of its day
	}{
		// Monday 30 November 2026, just before and at 09:30: Friday's, then Monday's.
		{"09:30", "1-5", at(t, ams, "2026-11-30 09:29"), at(t, ams, "2026-11-27 09:30"), at(t, ams, "2026-11-27 00:00")},
		{"09:30", "1-5", at(t, ams, "2026-11-30 09:30"), at(t, ams, "2026-11-30 09:30"), at(t, ams, "2026-11-30 00:00")},
		{"09:30", "MON-FRI", at(t, ams, "2026-11-29 12:00"), at(t, ams, "2026-11-27 09:30"), at(t, ams, "2026-11-27 00:00")},
		{"09:30", "0,6", at(t, ams, "2026-11-27 12:00"), at(t, ams, "2026-11-22 09:30"), at(t, ams, "2026-11-22 00:00")},
		{"09:30", "", at(t, ams, "2026-11-29 12:00"), at(t, ams, "2026-11-29 09:30"), at(t, ams, "2026-11-29 00:00")},
		// Spring forward: 09:30 CEST is 07:30 UTC; the day began at 23:00 UTC (CET).
		{"09:30", "*", utc("2026-03-29 07:30"), utc("2026-03-29 07:30"), utc("2026-03-28 23:00")},
		{"09:30", "*", utc("2026-03-29 07:29"), utc("2026-03-28 08:30"), utc("2026-03-27 23:00")},
		// 02:30 does not happen that day: due at the end of the gap, 03:00 CEST.
		{"02:30", "*", utc("2026-03-29 01:00"), utc("2026-03-29 01:00"), utc("2026-03-28 23:00")},
		// Fall back: 09:30 CET is 08:30 UTC; the day began at 22:00 UTC (CEST).
		{"09:30", "0", utc("2026-10-25 08:30"), utc("2026-10-25 08:30"), utc("2026-10-24 22:00")},
		// 02:30 happens twice: due at the first, 00:30 UTC (CEST), once.
		{"02:30", "*", utc("2026-10-25 01:45"), utc("2026-10-25 00:30"), utc("2026-10-24 22:00")},
	} {
		due, err := (&config.Expect{By: tc.by, Days: tc.days}).Due(ams)
		if err != nil {
			t.Fatal(err)
		}
		got := lastDue(due, tc.now)
		if !got.Equal(tc.want) {
			t.Errorf("%s %q at %v: last due %v, want %v", tc.by, tc.days, tc.now, got, tc.want)
		}
		if s := dayStart(got, ams); !s.Equal(tc.start) {
			t.Errorf("%s %q at %v: day start %v, want %v", tc.by, tc.days, tc.now, s, tc.start)
		}
	}
}

// memStore is the ledger's part the tracker uses, in memory.
type memStore struct {
	seen      map[string]time.Time
	announced map[string]time.Time
	reads     int // LastSeen calls
}

func (m *memStore) LastSeen(job string) (time.Time, bool, error) {
	m.reads++
	t, ok := m.seen[job]
	return t, ok, nil
}
func (m *memStore) OverdueAnnounced(job string) (time.Time, error) { return m.announced[job], nil }
func (m *memStore) ForgetOverdueAnnounced(keep []string) error {
	for job := range m.announced {
		if !slices.Contains(keep, job) {
			delete(m.announced, job)
		}
	}
	return nil
}
func (m *memStore) SetOverdueAnnounced(job string, due time.Time) error {
	m.announced[job] = due
	return nil
}

// The tracker over a week of clock: a due time passes unmet and is
// announced once, also across a restart; a late file clears it; the next
// due day starts afresh; a tracker started after an unmet due time
// announces it; a job without an expect is not watched.
func TestOverdueTracker(t *testing.T) {
	ams := amsterdam(t)
	cfg := &config.Config{Location: ams, Jobs: map[string]*config.Job{
		"acme-in":  {Source: config.Source{Partner: "acme", Dir: "/outbox"}, Expect: &config.Expect{By: "09:30", Days: "1-5"}},
		"handover": {Source: config.Source{Partner: "cases", Dir: "/out"}},
	}}
	store := &memStore{seen: map[string]time.Time{"acme-in": at(t, ams, "2026-11-27 08:00")}, announced: map[string]time.Time{}}
	core, logs := observer.New(zap.InfoLevel)
	m := ops.NewMetrics("test", nil)
	var clock time.Time
	start := func() *overdueTracker { // a daemon (re)started
		o := newOverdueTracker(store, zap.New(core), m)
		o.now = func() time.Time { return clock }
		o.set(cfg)
		return o
	}
	events := func() int { return logs.FilterMessage("file overdue").Len() }
	want := func(step string, n int, overdue bool, due string) {
		t.Helper()
		if got := events(); got != n {
			t.Errorf("%s: %d file overdue events, want %d", step, got, n)
		}
		o, d := m.Overdue("acme-in")
		var wantDue time.Time
		if due != "" {
			wantDue = at(t, ams, due)
		}
		if o != overdue || !d.Equal(wantDue) {
			t.Errorf("%s: Overdue = %v, %v; want %v, %v", step, o, d, overdue, wantDue)
		}
		if v := gauge(t, m, "acme-in"); v != map[bool]float64{true: 1}[overdue] {
			t.Errorf("%s: exchanged_file_overdue = %v, want overdue %v", step, v, overdue)
		}
	}

	o := start()
	want("before the first check", 0, false, "")
	if _, ok := gaugeOK(t, m, "handover"); ok {
		t.Error("handover, without an expect, has an overdue gauge")
	}
	clock = at(t, ams, "2026-11-30 08:00") // Monday; Friday's file came
	if wait := o.tick(clock); wait != overdueMaxSleep {
		t.Errorf("08:00: sleeps %v, want the cap %v", wait, overdueMaxSleep)
	}
	want("Monday 08:00", 0, false, "2026-11-27 09:30")
	if wait := o.tick(clock.Add(89*time.Minute + 30*time.Second)); wait != 30*time.Second {
		t.Errorf("09:29:30: sleeps %v, want 30s: until the due time", wait)
	}
	clock = at(t, ams, "2026-11-30 09:30")
	o.tick(clock)
	want("Monday 09:30", 1, true, "2026-11-30 09:30")
	e := logs.FilterMessage("file overdue").All()[0].ContextMap()
	if e["job"] != "acme-in" || e["partner"] != "acme" || e["dir"] != "/outbox" || e["due"] != "2026-11-30T09:30:00+01:00" {
		t.Errorf("event fields %v", e)
	}
	clock = clock.Add(time.Minute)
	o.tick(clock)
	o.ran("acme-in") // a run that saw nothing
	want("Monday 09:31", 1, true, "2026-11-30 09:30")

	clock = at(t, ams, "2026-11-30 09:40")
	o = start() // restart: not announced again
	o.tick(clock)
	want("restarted at 09:40", 1, true, "2026-11-30 09:30")

	store.seen["acme-in"] = at(t, ams, "2026-11-30 09:45")
	clock = at(t, ams, "2026-11-30 09:46")
	o.ran("acme-in")
	want("after a run saw a file at 09:45", 1, false, "2026-11-30 09:30")

	clock = at(t, ams, "2026-12-01 09:30") // Tuesday: Monday's late file does not count
	o.tick(clock)
	want("Tuesday 09:30", 2, true, "2026-12-01 09:30")

	store.seen["acme-in"] = at(t, ams, "2026-12-02 01:00") // Wednesday's file, early
	clock = at(t, ams, "2026-12-02 10:00")
	o = start()
	o.tick(clock)
	want("started Wednesday 10:00, file at 01:00", 2, false, "2026-12-02 09:30")

	clock = at(t, ams, "2026-12-03 10:00") // Thursday: started after an unmet due time
	o = start()
	o.tick(clock)
	want("started Thursday 10:00, no file", 3, true, "2026-12-03 09:30")

	clock = at(t, ams, "2026-12-05 09:30") // Saturday: not a due day, still Friday's
	o.tick(clock)
	want("Saturday", 4, true, "2026-12-04 09:30") // Friday's, announced at the first look after it

	// A reload that drops the expect drops the gauge and the ledger's
	// record of the due time announced; another job's record stays.
	store.announced["other-in"] = at(t, ams, "2026-12-04 09:30")
	cfg.Jobs["other-in"] = &config.Job{Source: config.Source{Partner: "acme", Dir: "/other"}, Expect: &config.Expect{By: "10:00"}}
	cfg.Jobs["acme-in"].Expect = nil
	o.set(cfg)
	if _, ok := gaugeOK(t, m, "acme-in"); ok {
		t.Error("exchanged_file_overdue kept after the expect was removed")
	}
	if _, ok := store.announced["acme-in"]; ok {
		t.Error("the ledger keeps the due time announced of acme-in after its expect was removed")
	}
	if _, ok := store.announced["other-in"]; !ok {
		t.Error("the ledger lost the due time announced of other-in, still watched")
	}
}

// A file seen by a run the daemon does not make (exchanged run, once or
// files, on the same ledger) clears an overdue job at the tracker's next
// wake, within a minute, not at the next due time; a job that is not
// overdue is not read between its due times.
func TestOverdueTrackerSeenElsewhere(t *testing.T) {
	ams := amsterdam(t)
	cfg := &config.Config{Location: ams, Jobs: map[string]*config.Job{
		"acme-in": {Source: config.Source{Partner: "acme", Dir: "/outbox"}, Expect: &config.Expect{By: "09:30", Days: "*"}},
		"beta-in": {Source: config.Source{Partner: "beta", Dir: "/outbox"}, Expect: &config.Expect{By: "09:30", Days: "*"}},
	}}
	store := &memStore{seen: map[string]time.Time{"beta-in": at(t, ams, "2026-11-30 08:00")}, announced: map[string]time.Time{}}
	core, logs := observer.New(zap.InfoLevel)
	m := ops.NewMetrics("test", nil)
	o := newOverdueTracker(store, zap.New(core), m)
	o.set(cfg)
	clock := at(t, ams, "2026-11-30 09:30")
	o.now = func() time.Time { return clock }
	if wait := o.tick(clock); wait > overdueMaxSleep {
		t.Errorf("sleeps %v, more than %v", wait, overdueMaxSleep)
	}
	if over, _ := m.Overdue("acme-in"); !over || gauge(t, m, "acme-in") != 1 || gauge(t, m, "beta-in") != 0 {
		t.Fatalf("09:30: acme-in overdue %v (gauge %v), beta-in gauge %v; want acme-in only",
			over, gauge(t, m, "acme-in"), gauge(t, m, "beta-in"))
	}

	// Nothing seen yet: still overdue at the next wake, not announced again.
	clock = clock.Add(time.Minute)
	reads := store.reads
	o.tick(clock)
	if v := gauge(t, m, "acme-in"); v != 1 {
		t.Errorf("09:31, nothing seen: gauge %v, want 1", v)
	}
	if n := store.reads - reads; n != 1 {
		t.Errorf("09:31: %d ledger reads, want 1: the overdue job only", n)
	}

	store.seen["acme-in"] = at(t, ams, "2026-11-30 09:40") // `exchanged files` or a run elsewhere
	clock = at(t, ams, "2026-11-30 09:41")
	o.tick(clock)
	if over, d := m.Overdue("acme-in"); over || !d.Equal(at(t, ams, "2026-11-30 09:30")) || gauge(t, m, "acme-in") != 0 {
		t.Errorf("09:41, file seen at 09:40: Overdue %v, %v, gauge %v; want cleared", over, d, gauge(t, m, "acme-in"))
	}
	reads = store.reads
	o.tick(clock.Add(time.Minute))
	if n := store.reads - reads; n != 0 {
		t.Errorf("09:42, nothing overdue: %d ledger reads, want 0", n)
	}
	if n := logs.FilterMessage("file overdue").Len(); n != 1 {
		t.Errorf("%d file overdue events, want 1", n)
	}
}

// gauge returns exchanged_file_overdue{job}, failing the test if absent.
func gauge(t *testing.T, m *ops.Metrics, job string) float64 {
	t.Helper()
	v, ok := gaugeOK(t, m, job)
	if !ok {
		t.Fatalf("exchanged_file_overdue{job=%q} absent", job)
	}
	return v
}

func gaugeOK(t *testing.T, m *ops.Metrics, job string) (float64, bool) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "exchanged_file_overdue" {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "job" && l.GetValue() == job {
					return s.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// dueAt is a schedule due at the given times only.
type dueAt []time.Time

func (d dueAt) Next(t time.Time) time.Time {
	for _, at := range d {
		if at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// The tracker's own timer fires at a due time, without a run or a tick
// from outside, and announces once; run returns when its context ends.
func TestOverdueTrackerTimer(t *testing.T) {
	store := &memStore{seen: map[string]time.Time{}, announced: map[string]time.Time{}}
	core, logs := observer.New(zap.InfoLevel)
	m := ops.NewMetrics("test", nil)
	o := newOverdueTracker(store, zap.New(core), m)
	o.set(&config.Config{Location: time.UTC})
	due := time.Now().Add(300 * time.Millisecond)
	o.mu.Lock()
	o.jobs["acme-in"] = &expected{partner: "acme", dir: "/outbox", due: dueAt{due}}
	o.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.run(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for logs.FilterMessage("file overdue").Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if over, d := m.Overdue("acme-in"); !over || !d.Equal(due) || time.Now().Before(due) {
		t.Errorf("after the due time: Overdue = %v, %v; want true, %v", over, d, due)
	}
	time.Sleep(100 * time.Millisecond) // a second announcement would come now
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if n := logs.FilterMessage("file overdue").Len(); n != 1 {
		t.Errorf("%d file overdue events, want 1", n)
	}
}
