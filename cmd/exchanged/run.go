package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/internal/ops"
	"github.com/exchanged/exchanged/schedule"
)

// RunCommand is the daemon: every job on its schedule until SIGTERM.
type RunCommand struct {
	stdout, stderr io.Writer
}

// Run starts the scheduler and the ops endpoint and blocks until ctx is
// cancelled (the first SIGINT or SIGTERM); then it stops taking new runs
// and lets in-flight runs finish for up to --drain before returning nil.
// SIGHUP reloads the config file: a valid one replaces the jobs between
// runs, an invalid one is logged and the old config stays in force.
// Startup fails, before anything runs, on a bad config, an unwritable
// state_dir or an ops address that cannot be bound.
func (c *RunCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", "", "config file")
	drain := fs.Duration("drain", time.Minute, "how long in-flight runs may finish after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	a, err := openApp(cfg, c.stderr)
	if err != nil {
		return err
	}
	defer a.Close()

	d := &daemon{path: *path, log: a.log, ledger: a.ledger, cfg: cfg,
		failing: map[string]int{}, alerted: map[string]bool{}}
	d.metrics = ops.NewMetrics(version, d.staging)
	d.sched = schedule.New(schedule.Options{Location: cfg.Location, Logger: a.log.Named("schedule"),
		MaxConcurrent: maxConcurrent(cfg), Jitter: jitter(cfg)})
	r, err := d.newRunner(cfg)
	if err != nil {
		return err
	}
	d.runner = r
	if err := d.sched.Replace(d.entries(cfg, r)); err != nil {
		return err
	}
	if err := d.track(cfg); err != nil {
		return err
	}
	var srv *ops.Server
	if addr := listenAddr(cfg); addr != "" {
		h := &ops.Handler{Metrics: d.metrics, Ready: d.ready, Trigger: d.sched.Trigger, Log: a.log.Named("http")}
		if srv, err = ops.Listen(addr, h, a.log); err != nil {
			return err
		}
		defer srv.Close(context.Background())
	}

	// SIGHUP is ours from here on: before, its default action ends the
	// process, which is right for a daemon that has not started.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Runs get a context of their own: the first signal stops new runs
	// but lets those in flight finish, up to the drain timeout.
	d.sched.Start(context.WithoutCancel(ctx))
	fields := []zap.Field{zap.Int("jobs", len(cfg.Jobs)), zap.String("state_dir", cfg.StateDir),
		zap.String("version", version)}
	if srv != nil {
		fields = append(fields, zap.String("http", srv.Addr()))
	}
	a.log.Info("started", fields...)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-hup:
			a.log.Info("reloading config", zap.String("config", *path))
			_ = d.reload() // logged; the old config stays in force on error
		}
	}

	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	a.log.Info("stopping", zap.Duration("drain", *drain))
	dctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := d.sched.Stop(dctx); err != nil {
		a.log.Warn("drain cut short", zap.String("error", err.Error()))
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(sctx)
	}
	a.log.Info("stopped")
	return nil
}
