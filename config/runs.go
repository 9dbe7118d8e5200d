package config

import "time"

// maxParallelFiles bounds runs.parallel_files: past a few dozen files in
// flight over one connection a run gains nothing, and a partner's server
// may limit open handles.
const maxParallelFiles = 64

// maxAttempts bounds runs.retry.attempts: a run that retries a dead peer
// for longer holds up the job's next run.
const maxAttempts = 20

func (r Runs) validate(p *problems) {
	if r.MaxConcurrent < 0 {
		p.add("runs.max_concurrent", "must be 0 (no limit) or more")
	}
	if r.Jitter < 0 {
		p.add("runs.jitter", "must not be negative")
	} else if r.Jitter.D() > time.Hour {
		p.add("runs.jitter", "must be at most 1h")
	}
	if r.AlertAfter < 1 {
		p.add("runs.alert_after", "must be at least 1")
	}
	if r.ParallelFiles < 1 || r.ParallelFiles > maxParallelFiles {
		p.add("runs.parallel_files", "must be 1 to %d", maxParallelFiles)
	}
	switch a := r.Retry.Attempts; {
	case a < 1:
		p.add("runs.retry.attempts", "must be at least 1 (1: no retries)")
	case a > maxAttempts:
		p.add("runs.retry.attempts", "must be at most %d", maxAttempts)
	}
	if r.Retry.Backoff <= 0 {
		p.add("runs.retry.backoff", "must be positive")
	}
	if r.Retry.MaxBackoff < r.Retry.Backoff {
		p.add("runs.retry.max_backoff", "must be at least runs.retry.backoff")
	}
}
