package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/exchanged/exchanged/internal/ops"
	"github.com/exchanged/exchanged/schedule"
)

// jobGate keeps a file action and a run of the same job apart: a run
// holds its job's gate for its whole length (hold); an action takes it
// only if free (try), so that it never waits behind a run, and a run
// that is due waits the moment an action takes.
type jobGate struct {
	mu   sync.Mutex
	jobs map[string]*sync.Mutex
}

func (g *jobGate) of(job string) *sync.Mutex {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.jobs == nil {
		g.jobs = map[string]*sync.Mutex{}
	}
	m := g.jobs[job]
	if m == nil {
		m = &sync.Mutex{}
		g.jobs[job] = m
	}
	return m
}

// hold takes job's gate for a run and returns its release.
func (g *jobGate) hold(job string) func() {
	m := g.of(job)
	m.Lock()
	return m.Unlock
}

// try takes job's gate for an action, or returns an error wrapping
// schedule.ErrRunning if a run holds it.
func (g *jobGate) try(job string) (func(), error) {
	m := g.of(job)
	if !m.TryLock() {
		return nil, fmt.Errorf("job %s is running: try again once its run is over: %w", job, schedule.ErrRunning)
	}
	return m.Unlock, nil
}

// daemonFiles serves the ops endpoint's /files routes (ops.FileOps) on
// the daemon's ledger and the config in force.
type daemonFiles struct{ d *daemon }

func (f daemonFiles) ops() *fileOps {
	f.d.mu.Lock()
	cfg := f.d.cfg
	f.d.mu.Unlock()
	return &fileOps{cfg: cfg, ledger: f.d.ledger, log: f.d.log.Named("files"), now: time.Now}
}

func (f daemonFiles) List(job, state string) (any, error) {
	return f.ops().list(job, state)
}

func (f daemonFiles) Retry(id int64, req ops.FileRequest) (any, error) {
	o := f.ops()
	rep, err := f.act(id, req, o, func(by string) (*actionReport, error) { return o.retry(id, by, req.Reason, req.Force) })
	if err != nil {
		return nil, err
	}
	switch err := f.d.sched.Trigger(rep.File.Job); {
	case err == nil:
		rep.Next = "failures cleared; a run of " + rep.File.Job + " was started to take the file"
	case errors.Is(err, schedule.ErrRunning):
		rep.Next = "failures cleared; " + rep.File.Job + " is running again already: its next run takes the file"
	}
	return rep, nil
}

func (f daemonFiles) Abandon(id int64, req ops.FileRequest) (any, error) {
	o := f.ops()
	return f.act(id, req, o, func(by string) (*actionReport, error) { return o.abandon(id, by, req.Reason, req.SourceGoneOK) })
}

// sameDir reports whether a and b name one directory, as absolute paths.
func sameDir(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	return errA == nil && errB == nil && a == b
}

// act runs fn for file id with its job's gate held (in a cluster, its
// lease, o's ledger fenced by it), as req.By asked from req.Remote.
// A request for another state_dir than the daemon's (another instance
// listens on the port the caller's config names) is refused.
func (f daemonFiles) act(id int64, req ops.FileRequest, o *fileOps, fn func(by string) (*actionReport, error)) (*actionReport, error) {
	f.d.mu.Lock()
	own := f.d.cfg.StateDir
	f.d.mu.Unlock()
	// The CLI's --by comes with its OS user: room for it.
	if err := checkRequest(req.By, req.Reason, maxByLen+100); err != nil {
		return nil, err
	}
	if req.StateDir != "" && !sameDir(req.StateDir, own) {
		return nil, fmt.Errorf("this daemon holds state_dir %s, not %s: another exchanged listens on the ops endpoint your config names: %w",
			own, req.StateDir, ops.ErrInvalid)
	}
	file, err := f.d.ledger.File(id)
	if err != nil {
		return nil, err
	}
	release, err := f.d.gate.try(file.Job)
	if err != nil {
		return nil, err
	}
	defer release()
	f.d.mu.Lock()
	cl := f.d.cfg.Cluster
	f.d.mu.Unlock()
	l, unlease, err := actionLease(f.d.ledger, cl, file.Job, f.d.log)
	if err != nil {
		return nil, err
	}
	defer unlease()
	o.ledger = l
	by := req.By
	if by == "" {
		by = "unknown"
	}
	return fn(by + " via the ops endpoint from " + req.Remote)
}
