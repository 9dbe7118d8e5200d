// Package ops is exchanged's operations endpoint: /healthz, /readyz, Prometheus
// /metrics, POST /jobs/NAME/run and the read-only status page, and the metrics themselves.
// It knows nothing of endpoints; its labels are job, partner, step and outcome, never a file
// name or anything about a person. The status page shows what the daemon hands it (Status):
// jobs, runs and pending files by name and state, never a file's contents.
package ops
