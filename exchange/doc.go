// Package exchange is the life of a file: the Runner takes each file of a
// job from seen to delivered (runner.go), staging it (staging.go), cleaning
// the source (clean.go), preparing each destination's output (prepare.go)
// and delivering it (deliver.go), with retries of transient failures
// (retry.go) and one process per state_dir (lock.go). Each step is recorded
// in the ledger before the next side effect. It streams file contents and
// never reads one whole; it knows nothing of CSV (package transform) nor of
// how an endpoint speaks (package endpoint and its implementations).
package exchange
