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

// failure is a failed step, as a step returns it to the run's retry loop,
// which alone decides what becomes of it: tried again after a backoff if
// it is transient and tries remain, else recorded. Nothing else reads or
// sets how many tries were made.
type failure struct {
	err     error
	step    string
	partner string      // whom the step was for
	log     *zap.Logger // with the step's partner (and file)
	record  func() error
}

func (e *failure) Error() string { return e.err.Error() }
func (e *failure) Unwrap() error { return e.err }

// retry runs fn, and again after a backoff while it fails with a *failure
// that is transient (endpoint.IsTransient) and tries remain (rn.Retry):
// each such failure is logged as a retry and observed, not recorded. Any
// other failure is recorded (its record func), and what that returns is
// returned. It stops when ctx ends.
func (rn *run) retry(ctx context.Context, fn func() error) error {
	for try := 1; ; try++ {
		err := fn()
		var fl *failure
		if !errors.As(err, &fl) {
			return err
		}
		if try >= rn.Retry.Attempts || !endpoint.IsTransient(fl.err) {
			return fl.record()
		}
		wait := rn.Retry.Wait(try)
		fl.log.Warn("retrying", zap.String("step", fl.step), zap.String("outcome", "retry"),
			zap.Int("try", try), zap.Int("tries", rn.Retry.Attempts), zap.Duration("backoff", wait),
			zap.String("error", fl.err.Error()))
		rn.observe(Event{Job: rn.job.Name, Partner: fl.partner, Step: fl.step, Outcome: "retry"})
		if err := rn.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// retryPolicy returns the config's retry policy (runs.retry).
func retryPolicy(cfg *config.Config) RetryPolicy {
	r := cfg.Runs.Retry.Policy()
	return RetryPolicy{Attempts: r.Attempts, Backoff: r.Backoff.D(), MaxBackoff: r.MaxBackoff.D()}
}
