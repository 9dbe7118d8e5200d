package main

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/exchanged/exchanged/internal/ops"
	"github.com/exchanged/exchanged/ledger"
)

// status returns what the ops endpoint's status page shows: each job of the config in
// force with its schedule, its next and last run from the scheduler and the ledger, and
// its pending files from the ledger (the first ops.PendingListed, and their count), all
// within ctx.
// A job with an expect: shows whether its file is overdue (the due time it missed) or,
// if not, when the next one is due.
func (d *daemon) status(ctx context.Context) (ops.Status, error) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	st := ops.Status{Version: version, Now: time.Now(), Location: cfg.Location}
	for _, name := range slices.Sorted(maps.Keys(cfg.Jobs)) {
		if err := ctx.Err(); err != nil {
			return ops.Status{}, err
		}
		js := ops.JobStatus{Name: name, Schedule: cfg.Jobs[name].Schedule, Running: d.sched.Running(name)}
		js.Next, _ = d.sched.Next(name)
		if e := cfg.Jobs[name].Expect; e != nil {
			js.Overdue, js.Due = d.metrics.Overdue(name)
			if due, err := e.Due(cfg.Location); !js.Overdue && err == nil {
				js.Due = due.Next(st.Now)
			}
		}
		runs, err := d.ledger.RunsContext(ctx, name, 1)
		if err != nil {
			return ops.Status{}, err
		}
		// Running before or after reading the last run: a run that started or ended
		// between is shown in progress, not as one that never finished.
		js.Running = js.Running || d.sched.Running(name)
		if len(runs) > 0 {
			r := runs[0]
			js.LastRun = ops.RunStatus{Started: r.StartedAt, Finished: r.FinishedAt, Outcome: r.Outcome,
				Files: r.Files, Error: r.Error}
		}
		files, total, err := d.ledger.PendingPage(ctx, name, ops.PendingListed)
		if err != nil {
			return ops.Status{}, err
		}
		js.PendingTotal = total
		for _, f := range files {
			js.Pending = append(js.Pending, fileStatus(f))
		}
		st.Jobs = append(st.Jobs, js)
	}
	return st, nil
}

// fileStatus is f as the status page shows it: never its contents or its subjects.
func fileStatus(f ledger.File) ops.FileStatus {
	return ops.FileStatus{ID: f.ID, Partner: f.Partner, Name: f.Name, State: f.State,
		Attempts: f.Attempts, Seen: f.SeenAt, Error: f.Error}
}
