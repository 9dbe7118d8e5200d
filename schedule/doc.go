// Package schedule runs named jobs on cron schedules read in one time zone (by default
// Europe/Amsterdam, with daylight-saving changes handled as a Dutch operator expects; see
// ParseSpec), never letting a job overlap itself, under a global limit on concurrent runs,
// with optional jitter, manual triggers, a graceful drain on Stop and a job set that can be
// replaced on config reload. It knows nothing of what a job does: a job is a Func.
package schedule
