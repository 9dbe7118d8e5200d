package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
)

// ValidateCommand checks a config file: its keys, values, schedules,
// secrets, private keys and known_hosts files, touching no endpoint. A
// problem there is exit 2. With --connect it also dials every partner and
// checks every job's directories, moving nothing; a failed check there is
// exit 1: the file is valid, a run would fail.
type ValidateCommand struct {
	stdout io.Writer
}

// Run loads and validates the file of --config and prints its jobs; with
// --connect it then checks every partner and job directory. It returns an
// error matching errConfig for a file that does not load or validate.
func (c *ValidateCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("config validate", flag.ContinueOnError)
	fs.SetOutput(c.stdout)
	path := fs.String("config", "", "config file")
	dial := fs.Bool("connect", false, "also dial every partner and check each job's directories (moving nothing)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: ok: %d partner(s), %d job(s), %d layout(s)\n", *path, len(cfg.Partners), len(cfg.Jobs), len(cfg.Layouts))
	for _, name := range slices.Sorted(maps.Keys(cfg.Jobs)) {
		j := cfg.Jobs[name]
		fmt.Fprintf(c.stdout, "  %-24s %-20s %s:%s -> %d destination(s)\n", name, j.Schedule, j.Source.Partner, j.Source.Dir, len(j.Destinations))
	}
	if !*dial {
		return nil
	}
	return connect(ctx, cfg, c.stdout)
}
