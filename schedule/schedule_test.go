package schedule

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// The scheduler tests run in a synctest bubble: time is fake, starts at
// 2000-01-01T00:00:00Z, and only moves when every goroutine in the bubble is blocked, so
// "time.Sleep(90 * time.Second)" means "let everything due in the next 90 seconds happen".
// Runs are held and released through channels.

var t0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func newTest(opts Options) (*Scheduler, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	opts.Logger = zap.New(core)
	return New(opts), logs
}

func mustAdd(t *testing.T, s *Scheduler, name, spec string, fn Func) {
	t.Helper()
	if err := s.Add(name, spec, fn); err != nil {
		t.Fatal(err)
	}
}

func mustStop(t *testing.T, s *Scheduler) {
	t.Helper()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// blocker is a job that counts its runs and holds each until released.
type blocker struct {
	runs    atomic.Int32
	release chan struct{}
}

func newBlocker() *blocker { return &blocker{release: make(chan struct{})} }

func (b *blocker) fn(ctx context.Context) error {
	b.runs.Add(1)
	<-b.release
	return nil
}

// counter is a job that counts its runs and returns at once.
type counter struct{ runs atomic.Int32 }

func (c *counter) fn(context.Context) error {
	c.runs.Add(1)
	return nil
}

// logged returns the entries with message msg and job name.
func logged(logs *observer.ObservedLogs, msg, name string) []observer.LoggedEntry {
	return logs.FilterMessage(msg).FilterField(zap.String("job", name)).All()
}

func TestNoOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{})
		b := newBlocker()
		mustAdd(t, s, "pull", "@every 1m", b.fn)
		s.Start(t.Context())

		time.Sleep(90 * time.Second) // 00:01 run 1 starts and is held
		if got := b.runs.Load(); got != 1 || !s.Running("pull") {
			t.Fatalf("after 00:01: runs = %d, running = %v; want 1, true", got, s.Running("pull"))
		}
		time.Sleep(2 * time.Minute) // 00:02 and 00:03 are due while run 1 goes on
		if got := b.runs.Load(); got != 1 {
			t.Fatalf("overlapping run started: runs = %d", got)
		}
		skips := logged(logs, "run skipped", "pull")
		if len(skips) != 2 {
			t.Fatalf("skip events = %d, want 2 (one per skipped tick)", len(skips))
		}
		for _, e := range skips {
			if e.Level != zapcore.WarnLevel || e.ContextMap()["reason"] != "still running" || e.ContextMap()["trigger"] != "schedule" {
				t.Errorf("skip event = %v %v", e.Level, e.ContextMap())
			}
		}

		b.release <- struct{}{} // run 1 returns at 00:03:30
		synctest.Wait()
		if s.Running("pull") {
			t.Fatal("still running after the run returned")
		}
		time.Sleep(time.Minute) // 00:04 run 2
		if got := b.runs.Load(); got != 2 {
			t.Fatalf("after 00:04: runs = %d, want 2", got)
		}
		if next, ok := s.Next("pull"); !ok || !next.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("Next = %v, %v; want 00:05", next, ok)
		}
		b.release <- struct{}{}
		mustStop(t, s)
		if n := len(logged(logs, "run skipped", "pull")); n != 2 {
			t.Errorf("skip events = %d at the end, want 2", n)
		}
		if n := len(logs.FilterMessage("run returned").FilterField(zap.String("outcome", "ok")).All()); n != 2 {
			t.Errorf("finished ok = %d, want 2", n)
		}
	})
}

func TestTriggerWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{})
		b := newBlocker()
		mustAdd(t, s, "push", "@daily", b.fn)
		s.Start(t.Context())

		if err := s.Trigger("push"); err != nil {
			t.Fatalf("Trigger: %v", err)
		}
		synctest.Wait()
		if b.runs.Load() != 1 || !s.Running("push") {
			t.Fatal("triggered run did not start")
		}
		err := s.Trigger("push")
		if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), `"push"`) {
			t.Fatalf("Trigger while running = %v, want ErrRunning naming the job", err)
		}
		skips := logged(logs, "run skipped", "push")
		if len(skips) != 1 || skips[0].ContextMap()["trigger"] != "manual" || skips[0].ContextMap()["reason"] != "still running" {
			t.Fatalf("skip events = %v", skips)
		}

		b.release <- struct{}{}
		synctest.Wait()
		if err := s.Trigger("push"); err != nil {
			t.Fatalf("Trigger after the run: %v", err)
		}
		synctest.Wait()
		if got := b.runs.Load(); got != 2 {
			t.Fatalf("runs = %d, want 2", got)
		}
		started := logged(logs, "run started", "push")
		if len(started) != 2 || started[0].ContextMap()["trigger"] != "manual" {
			t.Errorf("run started events = %v", started)
		}
		b.release <- struct{}{}
		mustStop(t, s)
	})
}

func TestTriggerUnknownJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTest(Options{})
		s.Start(t.Context())
		err := s.Trigger("nope")
		if !errors.Is(err, ErrUnknownJob) || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("Trigger = %v, want ErrUnknownJob naming the job", err)
		}
		if _, ok := s.Next("nope"); ok {
			t.Error("Next of an unknown job: ok")
		}
		mustStop(t, s)
		if err := s.Trigger("nope"); !errors.Is(err, ErrStopped) {
			t.Errorf("Trigger after Stop = %v, want ErrStopped", err)
		}
	})
}

func TestMaxConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{MaxConcurrent: 2})
		var started, inFlight, peak atomic.Int32
		release := make(chan struct{})
		fn := func(context.Context) error {
			started.Add(1)
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			<-release
			inFlight.Add(-1)
			return nil
		}
		names := []string{"a", "b", "c", "d", "e"}
		for _, name := range names {
			mustAdd(t, s, name, "@daily", fn)
		}
		s.Start(t.Context())
		for _, name := range names {
			if err := s.Trigger(name); err != nil {
				t.Fatalf("Trigger(%s): %v", name, err)
			}
			synctest.Wait() // a and b take the slots; c, d, e queue
		}
		synctest.Wait()
		if got := started.Load(); got != 2 {
			t.Fatalf("executing = %d, want 2 (the limit)", got)
		}
		for _, name := range names {
			if !s.Running(name) {
				t.Errorf("Running(%s) = false; a queued run counts as running", name)
			}
		}
		queued := names[len(names)-1]
		if err := s.Trigger(queued); !errors.Is(err, ErrRunning) {
			t.Errorf("Trigger of a queued job = %v, want ErrRunning", err)
		}

		release <- struct{}{} // one returns; a queued run takes its slot
		synctest.Wait()
		if got, in := started.Load(), inFlight.Load(); got != 3 || in != 2 {
			t.Fatalf("after one release: started = %d, in flight = %d; want 3, 2", got, in)
		}
		close(release)
		synctest.Wait()
		if got := started.Load(); got != 5 {
			t.Fatalf("started = %d, want 5", got)
		}
		if got := peak.Load(); got != 2 {
			t.Fatalf("peak concurrency = %d, want 2", got)
		}
		if n := len(logs.FilterMessage("run returned").All()); n != 5 {
			t.Errorf("run returned events = %d, want 5", n)
		}
		mustStop(t, s)
	})
}

// A run waiting for a slot counts as running: its next tick is skipped, so a job never
// has two runs queued.
func TestQueuedRunCountsAsRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{MaxConcurrent: 1})
		hog := newBlocker()
		var waiter counter
		mustAdd(t, s, "hog", "@daily", hog.fn)
		mustAdd(t, s, "waiter", "@every 1m", waiter.fn)
		s.Start(t.Context())
		if err := s.Trigger("hog"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Second) // waiter due at 00:01 (queued) and 00:02 (skipped)
		if waiter.runs.Load() != 0 || !s.Running("waiter") {
			t.Fatalf("waiter runs = %d, running = %v; want 0, true", waiter.runs.Load(), s.Running("waiter"))
		}
		if n := len(logged(logs, "run skipped", "waiter")); n != 1 {
			t.Fatalf("waiter skip events = %d, want 1", n)
		}
		hog.release <- struct{}{}
		synctest.Wait()
		if got := waiter.runs.Load(); got != 1 {
			t.Fatalf("waiter runs after the slot freed = %d, want 1", got)
		}
		mustStop(t, s)
	})
}

func TestJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{Jitter: 30 * time.Second})
		s.randN = func(d time.Duration) time.Duration { return d / 2 }
		var mu sync.Mutex
		var starts []time.Time
		mustAdd(t, s, "j", "@every 1m", func(context.Context) error {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			return nil
		})
		s.Start(t.Context())

		time.Sleep(70 * time.Second) // due 00:01:00, jitter 15s: not yet at 00:01:10
		if !s.Running("j") || len(logs.FilterMessage("run started").All()) != 0 {
			t.Fatal("jittered run should be waiting, counted as running")
		}
		time.Sleep(10 * time.Second) // 00:01:20
		// Triggered runs are not jittered.
		if err := s.Trigger("j"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		mu.Lock()
		got := slices.Clone(starts)
		mu.Unlock()
		want := []time.Time{t0.Add(75 * time.Second), t0.Add(80 * time.Second)}
		if !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Fatalf("starts = %v, want %v", got, want)
		}
		mustStop(t, s)
	})
}

func TestJitterRange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTest(Options{Jitter: 20 * time.Second})
		var mu sync.Mutex
		var starts []time.Time
		mustAdd(t, s, "j", "@every 1m", func(context.Context) error {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			return nil
		})
		s.Start(t.Context())
		time.Sleep(10*time.Minute + 30*time.Second)
		mustStop(t, s)
		if len(starts) != 10 {
			t.Fatalf("runs = %d, want 10", len(starts))
		}
		for i, st := range starts {
			due := t0.Add(time.Duration(i+1) * time.Minute)
			if st.Before(due) || !st.Before(due.Add(20*time.Second)) {
				t.Errorf("run %d started %v, want in [%v, +20s)", i+1, st, due)
			}
		}
	})
}

func TestStopDrainsInFlightRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{})
		release := make(chan struct{})
		var runs atomic.Int32
		var ctxErr error
		mustAdd(t, s, "push", "@hourly", func(ctx context.Context) error {
			runs.Add(1)
			<-release
			ctxErr = ctx.Err()
			return nil
		})
		s.Start(t.Context())
		if err := s.Trigger("push"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()

		stopped := make(chan error, 1)
		go func() { stopped <- s.Stop(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned %v while a run was in progress", err)
		default:
		}
		if err := s.Trigger("push"); !errors.Is(err, ErrStopped) {
			t.Errorf("Trigger while stopping = %v, want ErrStopped", err)
		}
		if err := s.Add("late", "@hourly", (&counter{}).fn); !errors.Is(err, ErrStopped) {
			t.Errorf("Add while stopping = %v, want ErrStopped", err)
		}

		close(release)
		if err := <-stopped; err != nil {
			t.Fatalf("Stop = %v, want nil", err)
		}
		if ctxErr != nil {
			t.Errorf("run ctx = %v during a graceful drain, want not cancelled", ctxErr)
		}
		fin := logged(logs, "run returned", "push")
		if len(fin) != 1 || fin[0].ContextMap()["outcome"] != "ok" {
			t.Errorf("run returned events = %v", fin)
		}
		time.Sleep(3 * time.Hour) // no scheduled run after Stop
		if got := runs.Load(); got != 1 {
			t.Errorf("runs = %d after Stop, want 1", got)
		}
		mustStop(t, s) // idempotent
	})
}

func TestStopDeadlineCancelsRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{})
		mustAdd(t, s, "slow", "@hourly", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		s.Start(t.Context())
		if err := s.Trigger("slow"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop = %v, want DeadlineExceeded", err)
		}
		if s.Running("slow") {
			t.Error("a run is still going after Stop returned")
		}
		fin := logged(logs, "run returned", "slow")
		if len(fin) != 1 || fin[0].ContextMap()["outcome"] != "failed" || fin[0].ContextMap()["error"] != "context canceled" {
			t.Fatalf("run returned events = %v", fin)
		}
		cut := logs.FilterMessage("stop: drain cut short, cancelling runs").All()
		if len(cut) != 1 || !slices.Equal(cut[0].ContextMap()["jobs"].([]any), []any{"slow"}) {
			t.Errorf("drain cut events = %v", cut)
		}
		mustStop(t, s) // idempotent, nil now that nothing runs
	})
}

func TestStopDropsWaitingRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{MaxConcurrent: 1, Jitter: time.Hour})
		s.randN = func(d time.Duration) time.Duration { return d / 2 }
		hog := newBlocker()
		var queued, jittered counter
		mustAdd(t, s, "hog", "@daily", hog.fn)
		mustAdd(t, s, "queued", "@daily", queued.fn)
		mustAdd(t, s, "jittered", "@every 1m", jittered.fn)
		s.Start(t.Context())
		for _, name := range []string{"hog", "queued"} {
			if err := s.Trigger(name); err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // hog takes the slot first
		}
		time.Sleep(90 * time.Second) // jittered is due at 00:01 and waits 30m
		if !s.Running("queued") || !s.Running("jittered") {
			t.Fatal("queued and jittered runs should be waiting")
		}

		stopped := make(chan error, 1)
		go func() { stopped <- s.Stop(context.Background()) }()
		synctest.Wait()
		for _, name := range []string{"queued", "jittered"} {
			skips := logged(logs, "run skipped", name)
			if len(skips) != 1 || skips[0].ContextMap()["reason"] != "stopping" {
				t.Errorf("%s: skip events = %v, want one with reason stopping", name, skips)
			}
			if s.Running(name) {
				t.Errorf("%s still running after its run was dropped", name)
			}
		}
		hog.release <- struct{}{}
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if queued.runs.Load() != 0 || jittered.runs.Load() != 0 {
			t.Errorf("dropped runs executed: queued %d, jittered %d", queued.runs.Load(), jittered.runs.Load())
		}
	})
}

// When Start's ctx is done no new run starts, but runs in progress keep their context.
func TestStartContextDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTest(Options{})
		release := make(chan struct{})
		var ctxErr error
		mustAdd(t, s, "job", "@every 1m", func(ctx context.Context) error {
			<-release
			ctxErr = ctx.Err()
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		s.Start(ctx)
		time.Sleep(90 * time.Second)
		cancel()
		synctest.Wait()
		if err := s.Trigger("job"); !errors.Is(err, ErrStopped) {
			t.Errorf("Trigger after ctx done = %v, want ErrStopped", err)
		}
		close(release)
		mustStop(t, s)
		if ctxErr != nil {
			t.Errorf("run ctx = %v, want not cancelled by Start's ctx", ctxErr)
		}
	})
}

func TestReplace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{})
		oldA := newBlocker()
		var newA, b, c, keep counter
		mustAdd(t, s, "a", "@every 1m", oldA.fn)
		mustAdd(t, s, "b", "@every 1m", b.fn)
		mustAdd(t, s, "keep", "@every 10m", keep.fn)
		s.Start(t.Context())
		time.Sleep(90 * time.Second) // 00:01: a (held) and b run

		err := s.Replace(map[string]Entry{
			"a":    {Spec: "@every 2m", Func: newA.fn}, // changed, while its old run goes on
			"keep": {Spec: "@every 10m", Func: keep.fn},
			"c":    {Spec: "@every 1m", Func: c.fn}, // added; b removed
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Jobs(); !slices.Equal(got, []string{"a", "c", "keep"}) {
			t.Errorf("Jobs = %v", got)
		}
		if _, ok := s.Next("b"); ok {
			t.Error("removed job b still scheduled")
		}
		if next, _ := s.Next("keep"); !next.Equal(t0.Add(10 * time.Minute)) {
			t.Errorf("unchanged keep: Next = %v, want its old 00:10", next)
		}
		if next, _ := s.Next("a"); !next.Equal(t0.Add(90*time.Second + 2*time.Minute)) {
			t.Errorf("changed a: Next = %v, want now+2m", next)
		}
		if !s.Running("a") {
			t.Error("a's old run should still be going")
		}
		if err := s.Trigger("a"); !errors.Is(err, ErrRunning) {
			t.Errorf("Trigger(a) during its old run = %v, want ErrRunning", err)
		}
		rep := logs.FilterMessage("jobs replaced").All()
		if len(rep) != 1 {
			t.Fatalf("jobs replaced events = %d", len(rep))
		}
		if m := rep[0].ContextMap(); !slices.Equal(m["added"].([]any), []any{"c"}) ||
			!slices.Equal(m["changed"].([]any), []any{"a"}) || !slices.Equal(m["removed"].([]any), []any{"b"}) {
			t.Errorf("jobs replaced fields = %v", m)
		}

		time.Sleep(150 * time.Second) // 00:04: new a due at 00:03:30 while the old run goes on
		if newA.runs.Load() != 0 {
			t.Fatal("new a overlapped the old run")
		}
		if n := len(logged(logs, "run skipped", "a")); n != 2 { // the trigger and the 00:03:30 tick
			t.Errorf("a skip events = %d, want 2", n)
		}
		oldA.release <- struct{}{}
		time.Sleep(2 * time.Minute) // 00:06: new a ran at 00:05:30
		if got := newA.runs.Load(); got != 1 {
			t.Errorf("new a runs = %d, want 1", got)
		}
		if got := oldA.runs.Load(); got != 1 {
			t.Errorf("old a runs = %d, want 1", got)
		}
		if got := b.runs.Load(); got != 1 {
			t.Errorf("removed b runs = %d, want 1 (before the replace)", got)
		}
		if got := c.runs.Load(); got != 4 { // 00:02:30 .. 00:05:30
			t.Errorf("added c runs = %d, want 4", got)
		}
		mustStop(t, s)
	})
}

func TestReplaceInvalidChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTest(Options{})
		var a counter
		mustAdd(t, s, "a", "@every 1m", a.fn)
		err := s.Replace(map[string]Entry{
			"ok":      {Spec: "@daily", Func: a.fn},
			"bad":     {Spec: "0 25 * * *", Func: a.fn},
			"nofunc":  {Spec: "@daily"},
			"also-ok": {Spec: "@hourly", Func: a.fn},
		})
		if err == nil {
			t.Fatal("Replace accepted invalid jobs")
		}
		for _, want := range []string{`job "bad": spec "0 25 * * *"`, `job "nofunc": no func`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if got := s.Jobs(); !slices.Equal(got, []string{"a"}) {
			t.Errorf("Jobs after a failed Replace = %v, want [a]", got)
		}
		mustStop(t, s)
		if err := s.Replace(nil); !errors.Is(err, ErrStopped) {
			t.Errorf("Replace after Stop = %v, want ErrStopped", err)
		}
	})
}

func TestAddErrors(t *testing.T) {
	s, _ := newTest(Options{})
	fn := (&counter{}).fn
	mustAdd(t, s, "a", "@daily", fn)
	tests := []struct {
		name, spec string
		fn         Func
		want       string
	}{
		{"a", "@hourly", fn, `schedule: add job "a": schedule: duplicate job`},
		{"b", "0 6 * *", fn, `schedule: job "b": spec "0 6 * *": expected exactly 5 fields`},
		{"c", "@daily", nil, `schedule: job "c": no func`},
		{"", "@daily", fn, `schedule: job with an empty name`},
	}
	for _, tc := range tests {
		err := s.Add(tc.name, tc.spec, tc.fn)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Add(%q, %q) = %v, want %q", tc.name, tc.spec, err, tc.want)
		}
	}
	if err := s.Add("a", "@daily", fn); !errors.Is(err, ErrDuplicateJob) {
		t.Errorf("duplicate: %v is not ErrDuplicateJob", err)
	}
	mustStop(t, s)
}

func TestRunLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, logs := newTest(Options{})
		mustAdd(t, s, "ok", "@daily", func(context.Context) error {
			time.Sleep(3 * time.Second)
			return nil
		})
		mustAdd(t, s, "fails", "@daily", func(context.Context) error {
			return errors.New("sftp: dial sftp.acme.example: connection refused")
		})
		mustAdd(t, s, "panics", "@daily", func(context.Context) error { panic("boom") })
		s.Start(t.Context())
		for _, name := range []string{"ok", "fails", "panics"} {
			if err := s.Trigger(name); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute)

		fin := logged(logs, "run returned", "ok")
		if len(fin) != 1 || fin[0].Level != zapcore.DebugLevel {
			t.Fatalf("ok: %v", fin)
		}
		if m := fin[0].ContextMap(); m["outcome"] != "ok" || m["duration"] != 3*time.Second || m["trigger"] != "manual" || m["error"] != nil {
			t.Errorf("ok fields = %v", m)
		}
		fin = logged(logs, "run returned", "fails")
		if len(fin) != 1 || fin[0].Level != zapcore.DebugLevel {
			t.Fatalf("fails: %v", fin)
		}
		if m := fin[0].ContextMap(); m["outcome"] != "failed" || m["error"] != "sftp: dial sftp.acme.example: connection refused" {
			t.Errorf("fails fields = %v", m)
		}
		fin = logged(logs, "run panicked", "panics")
		if len(fin) != 1 || fin[0].Level != zapcore.ErrorLevel || fin[0].ContextMap()["error"] != "schedule: run panicked: boom" {
			t.Fatalf("panics: %v", fin)
		}
		if n := len(logged(logs, "run started", "ok")); n != 1 {
			t.Errorf("run started events = %d", n)
		}
		mustStop(t, s)
	})
}

// Cron specs are read in the scheduler's zone: 06:00 Amsterdam on 2000-01-01 (winter) is
// 05:00 UTC.
func TestScheduleInLocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTest(Options{})
		var at time.Time
		mustAdd(t, s, "morning", "0 6 * * *", func(context.Context) error {
			at = time.Now()
			return nil
		})
		want := t0.Add(5 * time.Hour)
		if next, _ := s.Next("morning"); !next.Equal(want) {
			t.Fatalf("Next = %v, want %v", next, want)
		}
		s.Start(t.Context())
		time.Sleep(6 * time.Hour)
		mustStop(t, s)
		if !at.Equal(want) {
			t.Fatalf("ran at %v, want %v", at, want)
		}

		u, _ := newTest(Options{Location: time.UTC})
		mustAdd(t, u, "morning", "0 6 * * *", (&counter{}).fn)
		if next, _ := u.Next("morning"); !next.Equal(t0.Add(24*time.Hour + 6*time.Hour)) {
			// t0 is 00:00 UTC and now has moved to 06:00 UTC: the next 06:00 UTC is tomorrow.
			t.Errorf("UTC Next = %v", next)
		}
		mustStop(t, u)
	})
}
