package main

import (
	"context"
	"flag"
	"io"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/schedule"
)

// RunCommand is the daemon: every job on its schedule until SIGTERM.
type RunCommand struct {
	stdout, stderr io.Writer
}

// Run starts the scheduler and blocks until ctx is cancelled (the first
// SIGINT or SIGTERM); then it stops taking new runs and lets in-flight
// runs finish for up to --drain before returning.
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

	sched := schedule.New(schedule.Options{Location: cfg.Location, Logger: a.log.Named("schedule")})
	names := make([]string, 0, len(cfg.Jobs))
	for name := range cfg.Jobs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		job := name
		err := sched.Add(job, cfg.Jobs[job].Schedule, func(ctx context.Context) error {
			_, err := a.runner.Run(ctx, job)
			return err
		})
		if err != nil {
			return err
		}
	}
	// Runs get a context of their own: the first signal stops new runs
	// but lets those in flight finish, up to the drain timeout.
	sched.Start(context.WithoutCancel(ctx))
	a.log.Info("started", zap.Int("jobs", len(names)), zap.String("state_dir", cfg.StateDir),
		zap.String("version", version))
	<-ctx.Done()
	a.log.Info("stopping", zap.Duration("drain", *drain))
	dctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := sched.Stop(dctx); err != nil {
		a.log.Warn("drain cut short", zap.String("error", err.Error()))
	}
	a.log.Info("stopped")
	return nil
}
