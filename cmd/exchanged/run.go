package main

import (
	"context"
	"flag"
	"io"
	"time"
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
	var lf logFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := lf.check(); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	lf.apply(cfg)
	d, err := openDaemon(*path, cfg, c.stderr)
	if err != nil {
		return err
	}
	d.flags = lf
	defer d.Close()
	d.serve(ctx, *drain)
	return nil
}
