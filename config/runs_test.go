package config

import (
	"testing"
	"time"
)

// A runs block given in part keeps the defaults of the keys it leaves out.
func TestRunsPartial(t *testing.T) {
	setTestEnv(t)
	c := mustParse(t, baseYAML+"runs: {max_concurrent: 0, retry: {attempts: 1}}\n")
	want := Runs{MaxConcurrent: 0, AlertAfter: 3, ParallelFiles: 8, Retry: Retry{Attempts: 1,
		Backoff: Duration(2 * time.Second), MaxBackoff: Duration(time.Minute)}}
	if c.Runs != want {
		t.Fatalf("runs = %+v, want %+v", c.Runs, want)
	}
	_, err := parseString(t, baseYAML+"runs: {retry: {attempt: 5}}\n")
	wantErr(t, err, "runs.retry.attempt: unknown key; did you mean attempts?")
	_, err = parseString(t, baseYAML+"runs: {jitter: -5s}\n")
	wantErr(t, err, "runs.jitter")
}
