package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
	"github.com/exchanged/exchanged/schedule"
)

// clusterString describes cfg's cluster: setting for a reload's refusal,
// "" without one.
func clusterString(cfg *config.Config) string {
	if cfg.Cluster == nil {
		return ""
	}
	return fmt.Sprintf("node %s, lease %s", cfg.Cluster.Node, cfg.Cluster.Lease)
}

// purgeLease is how long a cluster node's claim on the day's purge lasts:
// it is not released, so the cluster purges once a day, on whichever node
// came first.
const purgeLease = 23 * time.Hour

// purgeHere reports whether this daemon purges the ledger now: always
// alone; in a cluster, only the node that takes lease "purge".
func (d *daemon) purgeHere(cfg *config.Config) bool {
	cl := cfg.Cluster
	if cl == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), cl.Lease.D())
	defer cancel()
	_, ok, err := d.ledger.TakeLease(ctx, "purge", cl.Node, purgeLease)
	switch {
	case err != nil:
		d.log.Named("retention").Error("purge skipped", zap.String("node", cl.Node), zap.String("outcome", "failed"), zap.String("error", err.Error()))
	case !ok:
		d.log.Named("retention").Info("purge held elsewhere", zap.String("node", cl.Node), zap.String("outcome", "skipped"))
	}
	return ok
}

// actionLease takes, in a cluster, job's lease for a file action (retry,
// abandon), so that no node runs the job meanwhile, and returns the
// ledger to act on, whose writes are fenced by the lease, and the lease's
// release; the error wraps schedule.ErrRunning while a node holds it.
// The lease is not renewed: an action is a few ledger writes, and one
// that outlasts the lease (cluster.lease) has its writes refused
// (ledger.ErrFenced, nothing applied) rather than overlap a run that took
// the job meanwhile. Alone, the job's gate (or the state_dir lock) is
// enough: it returns l and a release that does nothing.
func actionLease(l *ledger.Ledger, cl *config.Cluster, job string, log *zap.Logger) (*ledger.Ledger, func(), error) {
	if cl == nil {
		return l, func() {}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), cl.Lease.D())
	defer cancel()
	name := "job:" + job
	token, ok, err := l.TakeLease(ctx, name, cl.Node, cl.Lease.D())
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("job %s is running on a node of the cluster: try again once its run is over: %w", job, schedule.ErrRunning)
	}
	return l.Fenced(name, token, nil), func() {
		ctx, cancel := context.WithTimeout(context.Background(), cl.Lease.D())
		defer cancel()
		if err := l.ReleaseLease(ctx, name, token); err != nil {
			log.Warn("lease not released", zap.String("job", job), zap.String("node", cl.Node), zap.String("outcome", "expires"), zap.String("error", err.Error()))
		}
	}, nil
}

// clusterAction takes the lease of file id's job for an action of
// "exchanged files" on a cluster node's ledger (see actionLease).
func clusterAction(a *app, cfg *config.Config, id int64) (*ledger.Ledger, func(), error) {
	f, err := a.ledger.File(id)
	if err != nil {
		return nil, nil, err
	}
	return actionLease(a.ledger, cfg.Cluster, f.Job, a.log)
}

// heldElsewhere takes, when another node of the cluster runs job, the
// job's last good run and failed runs from the ledger (the cluster's
// record) into this node's metrics, so that an alert on a job that has
// not succeeded for long does not fire on the node that does not run it.
func (d *daemon) heldElsewhere(job string) {
	n, last, err := d.jobRecord(job)
	if err != nil {
		return // the next run's tries again
	}
	d.mu.Lock()
	d.failing[job] = n
	d.mu.Unlock()
	d.metrics.Job(job, n, last)
}
