package main

import (
	"fmt"
	"time"

	"github.com/exchanged/exchanged/config"
)

// alertAfter returns how many failed runs in a row make a "job failing"
// event (runs.alert_after).
func alertAfter(cfg *config.Config) int {
	if cfg.Runs.AlertAfter < 1 {
		return config.DefaultAlertAfter
	}
	return cfg.Runs.AlertAfter
}

// maxConcurrent returns the scheduler's limit on runs at once (runs.max_concurrent).
func maxConcurrent(cfg *config.Config) int { return cfg.Runs.MaxConcurrent }

// jitter returns the scheduler's jitter (runs.jitter).
func jitter(cfg *config.Config) time.Duration { return cfg.Runs.Jitter.D() }

// restartOnlyRuns names the run settings that differ between old and new
// and that a reload cannot apply: the scheduler is made with them.
func restartOnlyRuns(old, new *config.Config) []error {
	var errs []error
	if a, b := maxConcurrent(old), maxConcurrent(new); a != b {
		errs = append(errs, fmt.Errorf("runs.max_concurrent: changed from %d to %d; restart exchanged to apply it", a, b))
	}
	if a, b := jitter(old), jitter(new); a != b {
		errs = append(errs, fmt.Errorf("runs.jitter: changed from %s to %s; restart exchanged to apply it", a, b))
	}
	return errs
}
