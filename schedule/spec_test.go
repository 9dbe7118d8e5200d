package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func amsterdam(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// utc parses an RFC 3339 instant; tests name instants in UTC so the expected offsets are
// visible in the test itself.
func utc(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// nexts returns the first n activations of sched after from.
func nexts(sched cron.Schedule, from time.Time, n int) []time.Time {
	var out []time.Time
	for range n {
		from = sched.Next(from)
		out = append(out, from)
	}
	return out
}

func TestParseSpec(t *testing.T) {
	valid := []string{
		"0 6 * * 1-5", "*/15 7-19 * * 1-5", "0 0 1 jan,jul *", "30 2 * * sun",
		"@every 10m", "@every 1s", "@daily", "@midnight", "@hourly", "@weekly", "@monthly", "@yearly", "@annually",
		"  0 6 * * *  ",
	}
	for _, spec := range valid {
		if _, err := ParseSpec(spec, nil); err != nil {
			t.Errorf("ParseSpec(%q): %v", spec, err)
		}
	}
	invalid := []struct{ spec, want string }{
		{"", "empty"},
		{"0 6 * *", "expected exactly 5 fields"},
		{"0 0 6 * * *", "expected exactly 5 fields"},
		{"61 * * * *", "above maximum"},
		{"0 6 * * mon-xyz", "failed to parse"},
		{"@fortnightly", "unrecognized descriptor"},
		{"@every 0s", "at least 1s"},
		{"@every 500ms", "at least 1s"},
		{"@every -1m", "at least 1s"},
		{"@every often", "failed to parse duration"},
		{"TZ=UTC 0 6 * * *", "time zone prefix"},
		{"CRON_TZ=Europe/London 0 6 * * *", "time zone prefix"},
		{"TZ=UTC", "time zone prefix"}, // cron/v3 itself panics on this one
		{"0 0 30 2 *", "never fires"},
	}
	for _, tc := range invalid {
		_, err := ParseSpec(tc.spec, nil)
		if err == nil {
			t.Errorf("ParseSpec(%q): no error", tc.spec)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "schedule: spec ") {
			t.Errorf("ParseSpec(%q) = %q, want it to contain %q", tc.spec, err, tc.want)
		}
	}
}

func TestParseSpecDefaultsToAmsterdam(t *testing.T) {
	sched, err := ParseSpec("0 6 * * *", nil)
	if err != nil {
		t.Fatal(err)
	}
	// 2026-01-15 is winter time (UTC+1): 06:00 Amsterdam is 05:00 UTC.
	got := sched.Next(utc(t, "2026-01-15T00:00:00Z"))
	if want := utc(t, "2026-01-15T05:00:00Z"); !got.Equal(want) {
		t.Fatalf("next = %v, want %v", got, want)
	}
	other, err := ParseSpec("0 6 * * *", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := other.Next(utc(t, "2026-01-15T00:00:00Z")), utc(t, "2026-01-15T06:00:00Z"); !got.Equal(want) {
		t.Fatalf("UTC next = %v, want %v", got, want)
	}
}

// The daylight-saving changes of 2026 in Europe/Amsterdam:
// spring 2026-03-29 02:00 CET (UTC+1) → 03:00 CEST (UTC+2); 02:00–02:59 does not exist;
// autumn 2026-10-25 03:00 CEST → 02:00 CET; 02:00–02:59 happens twice.
func TestDST(t *testing.T) {
	loc := amsterdam(t)
	tests := []struct {
		name, spec, from string
		want             []string
	}{
		{
			// Weekdays at 06:00 wall time: 05:00Z in winter, 04:00Z in summer.
			name: "weekdays 06:00 into summer time",
			spec: "0 6 * * 1-5", from: "2026-03-26T12:00:00Z",
			want: []string{"2026-03-27T05:00:00Z", "2026-03-30T04:00:00Z", "2026-03-31T04:00:00Z"},
		},
		{
			name: "weekdays 06:00 into winter time",
			spec: "0 6 * * 1-5", from: "2026-10-22T12:00:00Z",
			want: []string{"2026-10-23T04:00:00Z", "2026-10-26T05:00:00Z", "2026-10-27T05:00:00Z"},
		},
		{
			name: "daily 06:00 on both change days",
			spec: "0 6 * * *", from: "2026-03-28T00:00:00Z",
			want: []string{"2026-03-28T05:00:00Z", "2026-03-29T04:00:00Z", "2026-03-30T04:00:00Z"},
		},
		{
			name: "daily 06:00 on the autumn change day",
			spec: "0 6 * * *", from: "2026-10-24T00:00:00Z",
			want: []string{"2026-10-24T04:00:00Z", "2026-10-25T05:00:00Z", "2026-10-26T05:00:00Z"},
		},
		{
			// 02:30 does not exist on 29 March: the run happens at 03:00 CEST, the end of the gap.
			name: "02:30 on the spring change day fires at 03:00 CEST",
			spec: "30 2 * * *", from: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"},
		},
		{
			name: "02:00 and 03:00 on the spring change day fire once at 03:00 CEST",
			spec: "0 2,3 * * *", from: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T01:00:00Z"},
		},
		{
			name: "a spec not matching the spring change day is unaffected",
			spec: "30 2 * * 1-5", from: "2026-03-27T12:00:00Z",
			want: []string{"2026-03-30T00:30:00Z"},
		},
		{
			// Started at 03:00 CEST exactly, after the gap fired: nothing more that day.
			name: "spring gap already passed",
			spec: "30 2 * * *", from: "2026-03-29T01:00:00Z",
			want: []string{"2026-03-30T00:30:00Z"},
		},
		{
			// 02:30 happens twice on 25 October: the run happens once, at 02:30 CEST (00:30Z).
			name: "02:30 on the autumn change day fires once",
			spec: "30 2 * * *", from: "2026-10-24T12:00:00Z",
			want: []string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		},
		{
			// Started between the two passes of 02:30 (02:45 CEST): the second pass is skipped.
			name: "autumn: started inside the repeated hour",
			spec: "30 2 * * *", from: "2026-10-25T00:45:00Z",
			want: []string{"2026-10-26T01:30:00Z"},
		},
		{
			// A bare * in the hour follows the clock: one run per real hour, none at the
			// non-existent 02:00, two at 02:00 in autumn (CEST and CET).
			name: "hourly across spring",
			spec: "0 * * * *", from: "2026-03-28T23:30:00Z",
			want: []string{"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"},
		},
		{
			name: "hourly across autumn",
			spec: "@hourly", from: "2026-10-24T23:30:00Z",
			want: []string{"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"},
		},
		{
			name: "every 30 minutes across autumn keeps its real interval",
			spec: "*/30 * * * *", from: "2026-10-24T23:50:00Z",
			want: []string{"2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"},
		},
		{
			name: "@every counts real time",
			spec: "@every 45m", from: "2026-10-25T00:00:00Z",
			want: []string{"2026-10-25T00:45:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:15:00Z"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := ParseSpec(tc.spec, loc)
			if err != nil {
				t.Fatal(err)
			}
			got := nexts(sched, utc(t, tc.from), len(tc.want))
			for i, w := range tc.want {
				if !got[i].Equal(utc(t, w)) {
					t.Errorf("activation %d = %s (%s), want %s", i+1, got[i].UTC().Format(time.RFC3339), got[i].In(loc).Format("15:04 MST"), w)
				}
			}
		})
	}
}

// TestDSTCronV3 pins what cron/v3 v3.0.1 does on its own, which ParseSpec corrects for
// fixed-time specs: it skips 02:30 on the spring change day and fires 02:30 twice on the
// autumn change day. If an upgrade changes this, revisit fixedTime.
func TestDSTCronV3(t *testing.T) {
	loc := amsterdam(t)
	raw, err := parser.Parse("30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	raw.(*cron.SpecSchedule).Location = loc

	spring := nexts(raw, utc(t, "2026-03-28T12:00:00Z"), 1)
	if want := utc(t, "2026-03-30T00:30:00Z"); !spring[0].Equal(want) {
		t.Errorf("cron/v3 spring = %v, want %v (the 29th skipped)", spring[0].UTC(), want)
	}
	autumn := nexts(raw, utc(t, "2026-10-24T12:00:00Z"), 3)
	for i, w := range []string{"2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"} {
		if !autumn[i].Equal(utc(t, w)) {
			t.Errorf("cron/v3 autumn %d = %v, want %v (02:30 twice)", i+1, autumn[i].UTC(), w)
		}
	}
}
