package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/ledger"
)

// errConfig marks a config file that does not load or validate.
var errConfig = errors.New("config")

// loadConfig reads and validates the config file at path.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: --config is required", errUsage)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errConfig, path, err)
	}
	if err := exchange.CheckConfig(cfg); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errConfig, path, err)
	}
	return cfg, nil
}

// newLogger builds the zap logger the config asks for, writing to w. Its
// lines carry their journald priority when log.format is journald or w is
// the stream journald reads (see isJournalStream).
func newLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("%w: log.level: %w", errConfig, err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = "ts"
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	ec.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	// log.format journald, or any format on a stderr journald reads: each
	// line begins with its priority, "<3>" for an error.
	if c.Format == "journald" || isJournalStream(w) {
		enc = journaldEncoder{enc}
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core), nil
}

// app is what every job-running command opens: config, logger, ledger and
// the state_dir lock. Close undoes what openApp did.
type app struct {
	cfg    *config.Config
	log    *zap.Logger
	ledger *ledger.Ledger
	unlock func() error // releases the state_dir lock
}

// openApp builds the logger cfg asks for, writing to logw, checks that
// state_dir is writable (making it if missing), locks it for this process
// and opens its ledger. On error nothing stays open or locked.
func openApp(cfg *config.Config, logw io.Writer) (*app, error) {
	log, err := newLogger(cfg.Log, logw)
	if err != nil {
		return nil, err
	}
	if err := checkStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	// One process per state_dir: "once" beside a daemon on the same
	// ledger could resume the same delivery twice.
	unlock, err := exchange.LockStateDir(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	l, err := openLedgerAs(cfg, ledgerOwn)
	if err != nil {
		unlock()
		return nil, err
	}
	return &app{cfg: cfg, log: log, ledger: l, unlock: unlock}, nil
}

// newRunner returns the runner of a's config on a's ledger.
func (a *app) newRunner() (*exchange.Runner, error) {
	return newRunner(a.cfg, a.ledger, a.log)
}

// newRunner returns a runner of cfg on l; an error is state_dir's (its
// staging area cannot be opened or swept).
func newRunner(cfg *config.Config, l *ledger.Ledger, log *zap.Logger) (*exchange.Runner, error) {
	r, err := exchange.NewRunner(cfg, l, log)
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	return r, nil
}

// Close syncs the logger, closes the ledger and releases the state_dir
// lock. It returns the ledger's close error.
func (a *app) Close() error {
	_ = a.log.Sync()
	err := a.ledger.Close()
	_ = a.unlock()
	return err
}

// checkStateDir makes state_dir if it is missing and checks that a file can
// be created, written and removed in it, so that a daemon that cannot keep
// its ledger or stage a file fails at startup, not at its first run.
func checkStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state_dir %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("state_dir %s: not writable: %w", dir, err)
	}
	_, err = f.Write([]byte("ok"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("state_dir %s: not writable: %w", dir, err)
	}
	return nil
}
