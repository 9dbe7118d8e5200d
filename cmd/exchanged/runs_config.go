package main

import (
	"time"

	"github.com/exchanged/exchanged/config"
)

// defaultAlertAfter is the failed runs in a row that make a "job failing" event.
const defaultAlertAfter = 3

// alertAfter returns the config's alert threshold.
func alertAfter(cfg *config.Config) int {
	return defaultAlertAfter
}

// restartOnlyRuns names the run settings of new that a reload cannot apply.
func restartOnlyRuns(old, new *config.Config) []error { return nil }

func maxConcurrent(cfg *config.Config) int { return 0 }

func jitter(cfg *config.Config) time.Duration { return 0 }
