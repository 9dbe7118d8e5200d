package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/internal/demo"
)

// DemoCommand runs the self-contained tour: sample partners on loopback
// SFTP servers and a local case system, every sample job run once.
type DemoCommand struct {
	stdout, stderr io.Writer
}

// Run sets up the demo's partners in --dir (or a temporary directory,
// removed after), runs every sample job once and prints the trees before
// and after. It returns an error if any job failed.
func (c *DemoCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dir := fs.String("dir", "", "keep the demo's files in this new directory (default: a temporary one, removed after)")
	format := fs.String("log-format", "console", "log format: console | json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root := *dir
	if root == "" {
		tmp, err := os.MkdirTemp("", "exchanged-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		root = tmp
	} else if err := os.Mkdir(root, 0o700); err != nil {
		return fmt.Errorf("demo: --dir must name a new directory: %w", err)
	}
	env, err := demo.Setup(root, *format)
	if err != nil {
		return err
	}
	defer env.Close()
	if err := exchange.CheckConfig(env.Config); err != nil {
		return err
	}
	a, err := openApp(env.Config, c.stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.newRunner()
	if err != nil {
		return err
	}

	fmt.Fprintf(c.stdout, "exchanged demo in %s\nconfig: %s\n\nbefore:\n", root, env.ConfigPath)
	if err := env.Tree(c.stdout); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	failed := 0
	for _, job := range demo.Jobs {
		res, err := r.Run(ctx, job)
		status := "ok"
		if err != nil {
			status, failed = "FAILED: "+err.Error(), failed+1
		}
		fmt.Fprintf(c.stdout, "job %-20s files %d, deliveries %d, bytes staged %d: %s\n",
			job, res.Files, res.Delivered, res.Bytes, status)
	}
	fmt.Fprintln(c.stdout, "\nafter:")
	if err := env.Tree(c.stdout); err != nil {
		return err
	}
	ids, err := r.Staging().IDs()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "\nstaging: %d file(s) left; ledger: %s/ledger.db\n", len(ids), env.Config.StateDir)
	if failed > 0 {
		return fmt.Errorf("demo: %d job(s) failed", failed)
	}
	return nil
}
