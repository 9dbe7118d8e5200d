package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention is how long the ledger keeps what it records (the retention:
// block). A record older than its period is removed by the daemon's daily
// purge and by exchanged purge; a file that is not done or rejected is
// never removed, however old.
type Retention struct {
	// Files is how long a done or rejected file's record is kept, with its
	// deliveries and the data subjects they disclosed: default 7y, the
	// fiscal retention of AWR art. 52; at least 2y.
	Files Period `yaml:"files"`
	// Runs is how long the history of runs is kept: default 90d; at
	// least 1d.
	Runs Period `yaml:"runs"`
}

// Retention defaults and floors.
const (
	DefaultRetentionFiles Period = "7y"
	DefaultRetentionRuns  Period = "90d"
	MinRetentionFiles     Period = "2y"
	MinRetentionRuns      Period = "1d"
)

// DefaultRetention returns the retention a config without a retention:
// block, or with keys missing from it, gets.
func DefaultRetention() Retention {
	return Retention{Files: DefaultRetentionFiles, Runs: DefaultRetentionRuns}
}

// Period is a calendar period written as a whole number of years ("7y"),
// months ("18m"), weeks ("13w") or days ("90d"). Years and months are
// calendar ones: "7y" before 2033-03-01 is 2026-03-01.
type Period string

// parse returns the period as years, months and days.
func (p Period) parse() (y, m, d int, err error) {
	s := string(p)
	if len(s) < 2 {
		return 0, 0, 0, fmt.Errorf(`must be a period such as "7y", "18m", "13w" or "90d"`)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 || n > 100*366 || strings.ContainsAny(s[:len(s)-1], "+-") {
		return 0, 0, 0, fmt.Errorf(`must be a positive period such as "7y", "18m", "13w" or "90d"`)
	}
	switch s[len(s)-1] {
	case 'y':
		return n, 0, 0, nil
	case 'm':
		return 0, n, 0, nil
	case 'w':
		return 0, 0, 7 * n, nil
	case 'd':
		return 0, 0, n, nil
	}
	return 0, 0, 0, fmt.Errorf(`must be a period such as "7y", "18m", "13w" or "90d"`)
}

// Before returns the instant the period ends before now: a record older
// than that has outlived the period. p must be valid (Validate).
func (p Period) Before(now time.Time) time.Time {
	y, m, d, _ := p.parse()
	return now.AddDate(-y, -m, -d)
}

// shorter reports whether p is shorter than q, both valid, counted back
// from a fixed day.
func (p Period) shorter(q Period) bool {
	day := time.Date(2000, 3, 1, 0, 0, 0, 0, time.UTC)
	return p.Before(day).After(q.Before(day))
}

func (r Retention) validate(p *problems) {
	for _, f := range []struct {
		key      string
		v, floor Period
		why      string
	}{
		{"retention.files", r.Files, MinRetentionFiles, "a closed dossier is kept at least 2 years"},
		{"retention.runs", r.Runs, MinRetentionRuns, "the run history must outlive a day's alerts"},
	} {
		if _, _, _, err := f.v.parse(); err != nil {
			p.add(f.key, "%v", err)
		} else if f.v.shorter(f.floor) {
			p.add(f.key, "must be at least %s: %s", f.floor, f.why)
		}
	}
}
