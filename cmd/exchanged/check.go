package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/transform"
)

// CheckCommand validates one CSV offline against a layout of the config
// (or a built-in one: claim, payment, status) and prints its reject
// report to stdout and a summary to stderr: what ops use to onboard a new
// creditor. It reads only the config's layouts, never a secret.
type CheckCommand struct {
	stdout, stderr io.Writer
}

// errRowsRejected is returned when the file is readable but rows were
// rejected, so that scripts see a non-zero exit.
var errRowsRejected = errors.New("rows rejected")

// Run checks the one CSV file named in args with the layout of --layout,
// writing the reject report to stdout and the summary to stderr. It returns an error when the file
// is rejected whole, and one matching errRowsRejected when any row is.
func (c *CheckCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", "", "config file, for its layouts (not needed for a built-in layout)")
	layoutName := fs.String("layout", "", "layout name (from layouts:, or claim | payment | status)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *layoutName == "" || fs.NArg() != 1 {
		return fmt.Errorf("%w: exchanged check [--config FILE] --layout NAME FILE.csv", errUsage)
	}
	// Only the layouts: check needs none of the secrets, keys and
	// known_hosts files a run needs, which an analyst may not have.
	cfg := &config.Config{}
	if *path != "" {
		var err error
		if cfg, err = config.LoadLayouts(*path); err != nil {
			return fmt.Errorf("%w: %s: %w", errConfig, *path, err)
		}
	}
	layout, err := exchange.LayoutFor(cfg, *layoutName)
	if err != nil {
		return fmt.Errorf("%w: layout %q: %w", errConfig, *layoutName, err)
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	stats, err := transform.CheckTo(ctx, f, layout, c.stdout, c.stderr)
	if err != nil {
		if errors.Is(err, transform.ErrRejected) {
			return fmt.Errorf("%s: file rejected: %w", fs.Arg(0), err)
		}
		return err
	}
	if stats.Rejected > 0 {
		return fmt.Errorf("%s: %d of %d row(s) rejected: %w", fs.Arg(0), stats.Rejected, stats.Rows, errRowsRejected)
	}
	return nil
}
