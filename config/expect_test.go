package config

import (
	"github.com/exchanged/exchanged/schedule"

	"strings"
	"testing"
	"time"
)

// Expect's spec and due times: the forms of days, and the zone.
func TestExpectDue(t *testing.T) {
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		by, days, spec string
		after, want    string // in Europe/Amsterdam, "2006-01-02 15:04"
	}{
		{"09:30", "1-5", "30 9 * * 1-5", "2026-11-27 09:30", "2026-11-30 09:30"}, // Friday, after: Monday
		{"09:30", "", "30 9 * * *", "2026-11-27 09:30", "2026-11-28 09:30"},
		{"00:01", "0", "1 0 * * 0", "2026-11-27 12:00", "2026-11-29 00:01"},
		{"23:59", "MON,WED", "59 23 * * MON,WED", "2026-11-26 00:00", "2026-11-30 23:59"},
		{"07:05", "*/2", "5 7 * * */2", "2026-11-26 08:00", "2026-11-28 07:05"}, // Sun, Tue, Thu, Sat
		// Spring forward (29 March 2026): 02:30 does not happen; due at the gap's end.
		{"02:30", "*", "30 2 * * *", "2026-03-29 00:00", "2026-03-29 03:00"},
	} {
		e := &Expect{By: tc.by, Days: tc.days}
		if got := e.Spec(); got != tc.spec {
			t.Errorf("%+v: Spec = %q, want %q", *e, got, tc.spec)
		}
		due, err := e.Due(ams)
		if err != nil {
			t.Fatalf("%+v: %v", *e, err)
		}
		after, _ := time.ParseInLocation("2006-01-02 15:04", tc.after, ams)
		if got := due.Next(after).In(ams).Format("2006-01-02 15:04"); got != tc.want {
			t.Errorf("%+v: next after %s = %s, want %s", *e, tc.after, got, tc.want)
		}
	}
}

// expect parses from YAML, strictly.
func TestExpectParse(t *testing.T) {
	setTestEnv(t)
	c := mustParse(t, strings.Replace(baseYAML, "  acme-in:\n", "  acme-in:\n    expect: {by: \"09:30\", days: \"1-5\"}\n", 1))
	if e := c.Jobs["acme-in"].Expect; e == nil || e.By != "09:30" || e.Days != "1-5" {
		t.Fatalf("expect = %+v", e)
	}
	_, err := parseString(t, strings.Replace(baseYAML, "  acme-in:\n", "  acme-in:\n    expect: {by: \"09:30\", at: \"10:00\"}\n", 1))
	wantErr(t, err, "jobs.acme-in.expect.at: unknown key")
}

// runsBefore does not depend on the day of the check: a job whose
// schedule runs before the due time on at least one due day of the
// calendar's cycle is accepted (a yearly or leap-day schedule too), one
// that never does is refused.
func TestExpectRunsBefore(t *testing.T) {
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		schedule, by, days string
		ok                 bool
	}{
		{"0 6 * * 1-5", "09:30", "1-5", true},
		{"0 6 * * 1-5", "06:00", "1-5", true}, // a run at the due time counts
		{"0 6 * * 1-5", "05:59", "1-5", false},
		{"0 6 * * 1-5", "09:30", "0,6", false}, // never on a due day
		{"0 6 * * 1-5", "09:30", "*", true},    // on some due days
		{"0 6 1 * *", "09:30", "*", true},      // monthly, a daily expect: on the 1st
		{"0 6 1 6 *", "09:30", "*", true},      // 1 June only, whatever today is
		{"0 6 1 6 *", "09:30", "1", true},      // 1 June on a Monday (2009, 2015, ...)
		{"@yearly", "09:30", "*", true},
		{"0 6 29 2 *", "09:30", "1", true}, // 29 February on a Monday: 2016
		{"0 6 29 2 *", "09:30", "2", true}, // on a Tuesday: 2028
		{"0 6 29 2 *", "05:00", "*", false},
		{"*/15 10-18 * * *", "09:30", "*", false}, // every day, never before 10:00
		{"30 2 * * *", "03:00", "0", true},        // 02:30 skipped in spring runs at 03:00
		{"@every 12h", "09:30", "*", true},        // counts from the start: any time of day
		{"0 6 1-28 * *", "05:00", "*", false},     // every 28 years of days of the month
		{"0 6 13 * 5", "09:30", "0", true},        // the 13th or a Friday (cron reads either): a 13th on a Sunday
	} {
		if _, err := schedule.ParseSpec(tc.schedule, ams); err != nil {
			t.Fatal(err)
		}
		e := &Expect{By: tc.by, Days: tc.days}
		if _, err := e.Due(ams); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if got := runsBefore(tc.schedule, e.Spec()); got != tc.ok {
			t.Errorf("schedule %q, by %s on %q: runsBefore = %v, want %v", tc.schedule, tc.by, tc.days, got, tc.ok)
		}
		if d := time.Since(began); d > time.Second {
			t.Errorf("schedule %q, by %s on %q: took %v", tc.schedule, tc.by, tc.days, d)
		}
	}
}
