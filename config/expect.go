package config

import (
	"errors"
	"fmt"
	"math/bits"
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
	_, err := e.Due(loc)
	if err != nil {
		if u := errors.Unwrap(err); u != nil { // without schedule's "spec %q:" prefix
			err = u
		}
		p.add(at+".days", `must be a cron day-of-week field (0-6, 0 = Sunday, or SUN-SAT; ranges, lists, "*"): %v`, err)
		return
	}
	if _, err := schedule.ParseSpec(jobSchedule, loc); err == nil && !runsBefore(jobSchedule, e.Spec()) {
		p.add(at+".by", "the job's schedule never runs between 00:00 and %s on a due day: no file could be seen in time", e.By)
	}
}

// runsBefore reports whether the job schedule jobSchedule fires between
// 00:00 and the due time of dueSpec (Expect.Spec) on at least one due day:
// a schedule is refused only when no due time could ever be met. It reads
// both as wall-clock times and calendar days, not instants, and looks at
// the fixed span runsCycle years from runsAnchor, never at today: a
// config's validity does not depend on the day it is read. Due days on
// which the job does not run in time (a monthly schedule with a daily
// expect, or a job run by hand) are the operator's choice. An @every
// schedule counts from the daemon's start, at no fixed time of day: it is
// never refused.
func runsBefore(jobSchedule, dueSpec string) bool {
	r, err := cron.ParseStandard(jobSchedule)
	runs, ok := r.(*cron.SpecSchedule)
	if err != nil || !ok {
		return true
	}
	d, err := cron.ParseStandard(dueSpec)
	due, ok := d.(*cron.SpecSchedule)
	if err != nil || !ok {
		return true // not an Expect.Spec: the caller checked it
	}
	if earliest(runs) > earliest(due) {
		return false
	}
	end := time.Date(runsAnchor+runsCycle, 1, 1, 0, 0, 0, 0, time.UTC)
	for day := time.Date(runsAnchor, 1, 1, 0, 0, 0, 0, time.UTC); day.Before(end); day = day.AddDate(0, 0, 1) {
		if onDay(runs, day) && onDay(due, day) {
			return true
		}
	}
	return false
}

// runsAnchor and runsCycle are the span runsBefore looks at: 28 years
// hold every combination of day of the week, day of the month, month and
// leap year the calendar has (from 1901 to 2099 it repeats every 28
// years), so a schedule that runs on 29 February or on the 13th only is
// judged on every kind of due day.
const (
	runsAnchor = 2024
	runsCycle  = 28
)

// earliest returns the earliest wall-clock time of day at which s fires,
// in minutes after 00:00 (cron's minute and hour fields are independent).
func earliest(s *cron.SpecSchedule) int {
	return bits.TrailingZeros64(s.Hour&^starBit)*60 + bits.TrailingZeros64(s.Minute&^starBit)
}

// onDay reports whether s fires on day, as cron/v3 matches a day: when
// the day-of-month or the day-of-week field is "*", both must match, else
// either.
func onDay(s *cron.SpecSchedule, day time.Time) bool {
	if s.Month&(1<<uint(day.Month())) == 0 {
		return false
	}
	dom := s.Dom&(1<<uint(day.Day())) != 0
	dow := s.Dow&(1<<uint(day.Weekday())) != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// starBit is cron/v3's mark of a field given as "*" (or "?").
const starBit = 1 << 63
