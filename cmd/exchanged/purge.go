package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
)

// PurgeCommand removes from the ledger what the config's retention no
// longer keeps (exchanged purge).
type PurgeCommand struct {
	stdout, stderr io.Writer
	now            func() time.Time // the clock; time.Now if nil
}

// Run purges the ledger of the config given, or with --dry-run counts
// what would go, reading the ledger read-only. It takes no lock on
// state_dir: a purge is one ledger transaction and touches no file a run
// is working on, so it is safe beside a running daemon. It refuses a
// ledger that is missing, or whose schema is not this build's (see
// ledger.OpenCurrent): it never creates or migrates the daemon's ledger.
func (c *PurgeCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", "", "config file")
	dry := fs.Bool("dry-run", false, "count what would be purged, and change nothing")
	asJSON := fs.Bool("json", false, "print the counts as JSON")
	var lf logFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := lf.check(); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: exchanged purge --config FILE [--dry-run] [--json]", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	lf.apply(cfg)
	log, err := newLogger(cfg.Log, c.stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	var l *ledger.Ledger
	if *dry {
		l, err = openLedgerReadOnly(cfg)
	} else {
		l, err = openLedgerAs(cfg, ledgerCurrent)
	}
	if err != nil {
		return err
	}
	defer l.Close()
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	res, err := purge(l, cfg, now(), *dry, log)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(c.stdout).Encode(struct {
			DryRun bool `json:"dry_run"`
			ledger.PurgeResult
		}{*dry, res})
	}
	verb := "purged"
	if *dry {
		verb = "would purge"
	}
	fmt.Fprintf(c.stdout, "%s %d file record(s), %d delivery(ies), %d subject disclosure(s), %d run(s); %d source identity(ies) kept; %d file action(s)\n",
		verb, res.Files, res.Deliveries, res.Subjects, res.Runs, res.Kept, res.Actions)
	return nil
}

// purge applies cfg's retention to l as of now, logs the counts and
// returns them.
func purge(l *ledger.Ledger, cfg *config.Config, now time.Time, dry bool, log *zap.Logger) (ledger.PurgeResult, error) {
	o := ledger.PurgeOptions{
		Files:  cfg.Retention.Files.Before(now),
		Runs:   cfg.Retention.Runs.Before(now),
		DryRun: dry,
	}
	res, err := l.Purge(o)
	if err != nil {
		log.Error("purge failed", zap.String("outcome", "failed"), zap.String("error", err.Error()))
		return res, err
	}
	log.Info("purge", zap.Bool("dry_run", dry), zap.String("outcome", "ok"),
		zap.Time("files_before", o.Files), zap.Time("runs_before", o.Runs),
		zap.Int("files", res.Files), zap.Int("deliveries", res.Deliveries), zap.Int("subjects", res.Subjects),
		zap.Int("runs", res.Runs), zap.Int("file_actions", res.Actions), zap.Int("kept", res.Kept), zap.Int("audit", res.Audit))
	return res, nil
}
