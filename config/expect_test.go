package config

import (
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
