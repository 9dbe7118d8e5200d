package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/exchange"
)

// OnceCommand runs the named jobs now, once.
type OnceCommand struct {
	stdout, stderr io.Writer
}

// Run runs each named job in turn. It returns an error if a job is
// unknown, or if any run or file failed.
func (c *OnceCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("once", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", "", "config file")
	var lf logFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := lf.check(); err != nil {
		return err
	}
	jobs := fs.Args()
	if len(jobs) == 0 {
		return fmt.Errorf("%w: exchanged once --config FILE JOB...", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if cfg.Jobs[j] == nil {
			return fmt.Errorf("%w: no job %q in %s; its jobs: %s", errUsage, j, *path,
				strings.Join(slices.Sorted(maps.Keys(cfg.Jobs)), ", "))
		}
	}
	lf.apply(cfg)
	a, err := openApp(cfg, c.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.newRunner()
	if err != nil {
		return err
	}
	failed := 0
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		if _, err := r.Run(ctx, j); err != nil && !errors.Is(err, exchange.ErrHeldElsewhere) {
			failed++
			a.log.Debug("job failed", zap.String("job", j))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d job(s) failed; see the log", failed, len(jobs))
	}
	return nil
}
