package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/exchanged/exchanged/schedule"
)

// Expect is when a job's file is due: by the wall-clock time By on the
// days Days, in the config's timezone. A due time passes unmet when no
// file of the job was seen from 00:00 of that day until By.
type Expect struct {
	By   string `yaml:"by"`   // "HH:MM", 24-hour, e.g. "09:30"; required
	Days string `yaml:"days"` // a cron day-of-week field: "1-5", "1,3,5", "MON-FRI", "*"; default "*" (every day)
}

// byPattern is the one form By takes: two-digit hours 00-23, a colon,
// two-digit minutes.
var byPattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

// Spec returns e as a 5-field cron spec firing at each due time
// ("30 9 * * 1-5"), for schedule.ParseSpec. It assumes e is valid.
func (e *Expect) Spec() string {
	m := byPattern.FindStringSubmatch(e.By)
	if m == nil {
		return ""
	}
	days := e.Days
	if days == "" {
		days = "*"
	}
	return fmt.Sprintf("%s %s * * %s", trimZero(m[2]), trimZero(m[1]), days)
}

// trimZero drops the leading zero of a two-digit number ("09" -> "9",
// "00" -> "0").
func trimZero(s string) string {
	if len(s) == 2 && s[0] == '0' {
		return s[1:]
	}
	return s
}

// Due returns the schedule of e's due times in loc (nil: the default
// zone). Daylight saving follows schedule.ParseSpec: a By in the hour
// skipped in spring is due at the end of the gap, one in the hour repeated
// in autumn at its first occurrence.
func (e *Expect) Due(loc *time.Location) (cron.Schedule, error) {
	return schedule.ParseSpec(e.Spec(), loc)
}

// validate checks e at path; a nil e is valid (nothing is expected).
// jobSchedule is the job's schedule: it must run on a due day before the
// due time, or no file could ever be in time.
func (e *Expect) validate(p *problems, at, jobSchedule string, loc *time.Location) {
	if e == nil {
		return
	}
	okBy := byPattern.MatchString(e.By)
	switch {
	case e.By == "":
		p.add(at+".by", `required: the time a file is due, "HH:MM" (e.g. "09:30")`)
	case !okBy:
		p.add(at+".by", `must be "HH:MM", 24-hour, e.g. "09:30"`)
	case e.By == "00:00":
		okBy = false
		p.add(at+".by", `"00:00" leaves no time for a file: a due day's files count from 00:00; give a later time`)
	}
	if strings.ContainsAny(e.Days, " \t\r\n") {
		p.add(at+".days", `must be one day-of-week field without spaces, e.g. "1-5" or "MON,WED"`)
		return
	}
	if !okBy {
		return
	}
	due, err := e.Due(loc)
	if err != nil {
		if u := errors.Unwrap(err); u != nil { // without schedule's "spec %q:" prefix
			err = u
		}
		p.add(at+".days", `must be a cron day-of-week field (0-6, 0 = Sunday, or SUN-SAT; ranges, lists, "*"): %v`, err)
		return
	}
	if runs, err := schedule.ParseSpec(jobSchedule, loc); err == nil && !runsBefore(runs, due, loc) {
		p.add(at+".by", "the job's schedule never runs between 00:00 and %s on a due day: no file could be seen in time", e.By)
	}
}

// runsBefore reports whether runs fires between 00:00 and the due time
// on at least one of the next dueSamples due days.
func runsBefore(runs, due cron.Schedule, loc *time.Location) bool {
	if loc == nil {
		loc, _ = time.LoadLocation(DefaultTimezone)
	}
	d := time.Now()
	for range dueSamples {
		if d = due.Next(d); d.IsZero() {
			return false
		}
		y, m, day := d.In(loc).Date()
		start := time.Date(y, m, day, 0, 0, 0, 0, loc)
		if r := runs.Next(start.Add(-time.Nanosecond)); !r.IsZero() && !r.After(d) {
			return true
		}
	}
	return false
}

// dueSamples is how many due days runsBefore looks at: two weeks of days.
const dueSamples = 14
