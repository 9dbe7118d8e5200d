package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
)

// ValidateCommand checks a config file without touching any endpoint.
type ValidateCommand struct {
	stdout io.Writer
}

func (c *ValidateCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("config validate", flag.ContinueOnError)
	fs.SetOutput(c.stdout)
	path := fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	jobs := make([]string, 0, len(cfg.Jobs))
	for name := range cfg.Jobs {
		jobs = append(jobs, name)
	}
	sort.Strings(jobs)
	fmt.Fprintf(c.stdout, "%s: ok: %d partner(s), %d job(s), %d layout(s)\n", *path, len(cfg.Partners), len(cfg.Jobs), len(cfg.Layouts))
	for _, name := range jobs {
		j := cfg.Jobs[name]
		fmt.Fprintf(c.stdout, "  %-24s %-20s %s:%s -> %d destination(s)\n", name, j.Schedule, j.Source.Partner, j.Source.Dir, len(j.Destinations))
	}
	return nil
}
