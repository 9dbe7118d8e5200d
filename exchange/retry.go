package exchange

import (
	"context"
	"errors"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
)

// RetryPolicy says how a run retries a step that failed for a transient
// reason (endpoint.IsTransient): up to Attempts tries in all, waiting Backoff before
// the second, twice as long before each next one, never more than
// MaxBackoff. A permanent failure is never retried. A file whose step still
// fails stays where it is and is tried again on the next run.
type RetryPolicy struct {
	Attempts   int           // tries per step and run, the first included; 1 or less: no retries
	Backoff    time.Duration // wait before the second try
	MaxBackoff time.Duration // cap on one wait; 0: no cap
}

// Wait returns how long to wait after the try-th failed try (1-based).
func (p RetryPolicy) Wait(try int) time.Duration {
	d := p.Backoff
	for i := 1; i < try && d < math.MaxInt64/2 && (p.MaxBackoff <= 0 || d < p.MaxBackoff); i++ {
		d *= 2
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return max(d, 0)
}

// retryError marks a failure that the run's retry loop tries again; it was
// logged as such, and not recorded as the file's failure.
type retryError struct{ err error }

func (e retryError) Error() string { return e.err.Error() }
func (e retryError) Unwrap() error { return e.err }

// again reports whether a failure with err will be tried again in this run:
// it is transient and tries remain. The caller then logs it as a retry and
// returns it wrapped in retryError, instead of recording a failure.
func (rn *run) again(err error) bool {
	return rn.try > 0 && rn.try < rn.Retry.Attempts && endpoint.IsTransient(err)
}

// retryLater logs a transient failure of step that will be tried again and
// returns it marked for the retry loop.
func (rn *run) retryLater(l *zap.Logger, partner, step string, err error) error {
	wait := rn.Retry.Wait(rn.try)
	l.Warn("retrying", zap.String("step", step), zap.String("outcome", "retry"),
		zap.Int("try", rn.try), zap.Int("tries", rn.Retry.Attempts), zap.Duration("backoff", wait),
		zap.String("error", err.Error()))
	rn.observe(Event{Job: rn.job.Name, Partner: partner, Step: step, Outcome: "retry"})
	return retryError{err}
}

// retry runs fn, and again after a backoff for as long as it fails with an
// error marked by retryLater. It stops when ctx ends.
func (rn *run) retry(ctx context.Context, fn func() error) error {
	defer func() { rn.try = 0 }()
	for rn.try = 1; ; rn.try++ {
		err := fn()
		var re retryError
		if !errors.As(err, &re) {
			return err
		}
		if err := rn.Sleep(ctx, rn.Retry.Wait(rn.try)); err != nil {
			return err
		}
	}
}

// retryPolicy returns the config's retry policy (runs.retry).
func retryPolicy(cfg *config.Config) RetryPolicy {
	r := cfg.Runs.Retry.Policy()
	return RetryPolicy{Attempts: r.Attempts, Backoff: r.Backoff.D(), MaxBackoff: r.MaxBackoff.D()}
}
