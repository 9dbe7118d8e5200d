package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/internal/demo"
)

// DemoCommand runs the self-contained tour: sample partners on loopback
// SFTP servers and a local case system, every sample job run once.
type DemoCommand struct {
	stdout, stderr io.Writer
}

// Run sets up the demo's partners in --dir (a new directory, kept after;
// or a temporary one, removed after), runs every sample job once and
// prints the trees before and after, what was rejected and one reject
// report. It returns an error if any job failed.
func (c *DemoCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dir := fs.String("dir", "", "keep the demo's files in this new directory (default: a temporary one, removed after)")
	var lf logFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := lf.check(); err != nil {
		return err
	}
	if lf.format == "" {
		lf.format = "console" // a person reads the demo's log
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
	env, err := demo.Setup(root, lf.format)
	if err != nil {
		return err
	}
	defer env.Close()
	lf.apply(env.Config)
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
	if err := c.rejected(a, env); err != nil {
		return err
	}
	if *dir != "" {
		fmt.Fprintf(c.stdout, "\nthe demo's files stay in %s\n", root)
	} else {
		fmt.Fprintln(c.stdout, "\nthe demo's temporary directory is removed now; demo --dir DIR keeps its files")
	}
	if failed > 0 {
		return fmt.Errorf("demo: %d job(s) failed", failed)
	}
	return nil
}

// demoReportLines is how many lines of a reject report the demo shows.
const demoReportLines = 6

// rejected writes how many files were rejected whole and how many rows
// were left out of the others, from the demo's ledger, and the first lines
// of the first reject report sent back to the creditor. The demo's data
// is synthetic; a real reject report names lines, references, columns and
// reasons, never a cell's value.
func (c *DemoCommand) rejected(a *app, env *demo.Env) error {
	t, err := a.ledger.Rejects()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "rejected: %d file(s) whole, %d row(s) in %d other file(s) (of %d file(s), %d row(s) read)\n",
		t.WholeFiles, t.RejectedRows, t.RejectedFiles, t.Files, t.Rows)
	job := env.Config.Jobs[demo.Jobs[0]]
	if job == nil || job.Rejects == nil {
		return nil
	}
	dir := filepath.Join(env.Roots()[job.Rejects.Partner], filepath.FromSlash(job.Rejects.Dir))
	reports, err := filepath.Glob(filepath.Join(dir, "*.rejects.csv"))
	if err != nil || len(reports) == 0 {
		return err
	}
	b, err := os.ReadFile(reports[0]) // Glob sorts: the first day's
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(strings.TrimRight(string(b), "\r\n"), "\n")
	fmt.Fprintf(c.stdout, "\nreject report %s%s (%d line(s)):\n", job.Rejects.Dir+"/", filepath.Base(reports[0]), len(lines))
	for i, l := range lines {
		if i == demoReportLines {
			fmt.Fprintln(c.stdout, "  ...")
			break
		}
		fmt.Fprintf(c.stdout, "  %s\n", strings.TrimRight(l, "\r\n"))
	}
	return nil
}
