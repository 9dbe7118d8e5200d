// Package ops is exchanged's operations endpoint: /healthz, /readyz, Prometheus
// /metrics and POST /jobs/NAME/run, and the metrics themselves. It knows nothing of
// files or endpoints; its labels are job, partner, step and outcome, never a file name or
// anything about a person.
package ops
