package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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

// newLogger builds the zap logger the config asks for, writing to w.
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
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core), nil
}

// app is what every job-running command opens: config, logger, ledger,
// runner. Close undoes what Open did.
type app struct {
	cfg    *config.Config
	log    *zap.Logger
	ledger *ledger.Ledger
	runner *exchange.Runner
}

func openApp(cfg *config.Config, logw io.Writer) (*app, error) {
	log, err := newLogger(cfg.Log, logw)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	l, err := ledger.Open(filepath.Join(cfg.StateDir, "ledger.db"))
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	r, err := exchange.NewRunner(cfg, l, log)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	return &app{cfg: cfg, log: log, ledger: l, runner: r}, nil
}

func (a *app) Close() error {
	_ = a.log.Sync()
	return a.ledger.Close()
}
