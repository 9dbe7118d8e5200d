package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // the default zone must load on scratch/distroless images without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// DefaultTimezone is the zone schedules are read in when none is given.
const DefaultTimezone = "Europe/Amsterdam"

// defaultLocation returns DefaultTimezone, loaded. The embedded time/tzdata makes this
// infallible; a failure is a broken build, not a runtime condition.
func defaultLocation() *time.Location {
	loc, err := time.LoadLocation(DefaultTimezone)
	if err != nil {
		panic("schedule: load " + DefaultTimezone + ": " + err.Error())
	}
	return loc
}

// starBit is set by cron/v3 in a SpecSchedule field written as a bare "*" (or "?", "*/1").
const starBit = 1 << 63

// maxDSTSkips bounds the search past repeated wall-clock times: a fixed-time spec can
// match at most every minute of the one repeated hour.
const maxDSTSkips = 24 * 60

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSpec parses a standard 5-field cron spec ("0 6 * * 1-5") or a descriptor
// (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, "@every 10m"),
// reading wall-clock times in loc (nil means DefaultTimezone). A TZ= or CRON_TZ= prefix is
// refused: one zone, the config's, applies to every job. "@every" needs at least one
// second, and a spec that never fires (such as "0 0 30 2 *") is an error.
//
// Daylight saving time, for specs whose minute and hour fields are not a bare "*"
// (fixed-time specs like "30 2 * * *" or "@daily"), follows the rule of Vixie cron: a time
// that falls in the hour skipped in spring fires once, at the end of the gap (03:00 CEST);
// a time repeated in autumn fires once, at its first occurrence (CEST). cron/v3 alone would
// skip the spring run entirely and fire twice in autumn. Specs with a bare "*" in the minute
// or hour field ("*/15 * * * *", "@hourly") follow the clock as cron/v3 does: nothing
// fires at a non-existent time, and the repeated hour is run through twice, so the
// real interval between runs stays the same. "@every" counts real time and ignores zones.
func ParseSpec(spec string, loc *time.Location) (cron.Schedule, error) {
	sched, err := parseSpec(spec, loc)
	if err != nil {
		return nil, fmt.Errorf("schedule: spec %q: %w", spec, err)
	}
	return sched, nil
}

func parseSpec(spec string, loc *time.Location) (cron.Schedule, error) {
	if loc == nil {
		loc = defaultLocation()
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("empty")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, errors.New("a time zone prefix is not supported: the configured timezone applies to every job")
	}
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, err
	}
	switch s := sched.(type) {
	case cron.ConstantDelaySchedule:
		// cron.Every rounds anything below a second up to one: "@every 0s" is a typo, not a plan.
		if d, _ := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every"))); d < time.Second {
			return nil, errors.New("@every needs an interval of at least 1s")
		}
	case *cron.SpecSchedule:
		// The parser reads times in time.Local; the configured zone replaces it.
		s.Location = loc
		if s.Minute&starBit == 0 && s.Hour&starBit == 0 {
			sched = fixedTime{spec: s, loc: loc}
		}
	}
	if sched.Next(time.Now()).IsZero() {
		return nil, errors.New("never fires")
	}
	return sched, nil
}

// fixedTime wraps a cron/v3 spec whose minute and hour are fixed so that every matching
// wall-clock time fires exactly once across daylight-saving changes (see ParseSpec).
type fixedTime struct {
	spec *cron.SpecSchedule
	loc  *time.Location
}

// Next returns the first activation after t.
func (f fixedTime) Next(t time.Time) time.Time {
	n := f.spec.Next(t)
	// Autumn: a wall time in the repeated hour's second pass already had its first pass,
	// which cron/v3 returned before (or which was at or before t); skip it.
	for i := 0; i < maxDSTSkips && !n.IsZero() && f.repeated(n); i++ {
		n = f.spec.Next(n)
	}
	if g := f.gapEnd(t, n); !g.IsZero() {
		return g
	}
	return n
}

// repeated reports whether n's wall-clock time also occurred earlier, before a backward
// zone change.
func (f fixedTime) repeated(n time.Time) bool {
	n = n.In(f.loc)
	start, _ := n.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, cur := n.Zone()
	_, prev := start.Add(-time.Nanosecond).In(f.loc).Zone()
	back := time.Duration(prev-cur) * time.Second
	return back > 0 && n.Sub(start) < back
}

// gapEnd returns the end of the first forward zone change in (t, n) whose skipped
// wall-clock times include one the spec matches, or the zero time.
func (f fixedTime) gapEnd(t, n time.Time) time.Time {
	if n.IsZero() {
		return time.Time{}
	}
	cur := t.In(f.loc)
	for i := 0; i < 8; i++ { // zone changes between two activations of a fixed-time spec: at most a few a year
		_, end := cur.ZoneBounds()
		if end.IsZero() || !end.Before(n) {
			return time.Time{}
		}
		_, before := end.Add(-time.Nanosecond).In(f.loc).Zone()
		_, after := end.In(f.loc).Zone()
		if skipped := time.Duration(after-before) * time.Second; skipped > 0 && end.After(t) {
			wall := end.In(time.FixedZone("", before)) // the first wall time that did not happen
			for m := time.Duration(0); m < skipped; m += time.Minute {
				if f.matches(wall.Add(m)) {
					return end.In(t.Location())
				}
			}
		}
		cur = end.In(f.loc)
	}
	return time.Time{}
}

// matches reports whether the wall-clock minute of w matches the spec, by cron/v3's
// rules (day of month and day of week are OR-ed unless either is a bare "*").
func (f fixedTime) matches(w time.Time) bool {
	s := f.spec
	if 1<<uint(w.Minute())&s.Minute == 0 || 1<<uint(w.Hour())&s.Hour == 0 || 1<<uint(w.Month())&s.Month == 0 {
		return false
	}
	dom := 1<<uint(w.Day())&s.Dom != 0
	dow := 1<<uint(w.Weekday())&s.Dow != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}
