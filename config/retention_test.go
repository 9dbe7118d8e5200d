package config

import (
	"strings"
	"testing"
	"time"
)

func TestRetention(t *testing.T) {
	setTestEnv(t)
	now := time.Date(2033, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		yaml      string
		files     time.Time // zero: an error is wanted
		runs      time.Time
		errSubstr string
	}{
		{yaml: "", files: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), runs: now.AddDate(0, 0, -90)},
		{yaml: "retention: {files: 10y}\n", files: time.Date(2023, 3, 1, 12, 0, 0, 0, time.UTC), runs: now.AddDate(0, 0, -90)},
		{yaml: "retention: {files: 30m, runs: 2w}\n", files: time.Date(2030, 9, 1, 12, 0, 0, 0, time.UTC), runs: now.AddDate(0, 0, -14)},
		{yaml: "retention: {files: 1y}\n", errSubstr: "retention.files: must be at least 2y"},
		{yaml: "retention: {files: 700d}\n", errSubstr: "retention.files: must be at least 2y"},
		{yaml: "retention: {runs: 5h}\n", errSubstr: "retention.runs: must be a period"},
		{yaml: "retention: {runs: -3d}\n", errSubstr: "retention.runs: must be a positive period"},
		{yaml: "retention: {forever: 1y}\n", errSubstr: "forever"},
	} {
		c, err := Parse(strings.NewReader(baseYAML + tc.yaml))
		if tc.errSubstr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
				t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.errSubstr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if got := c.Retention.Files.Before(now); !got.Equal(tc.files) {
			t.Errorf("%q: files before %v, want %v", tc.yaml, got, tc.files)
		}
		if got := c.Retention.Runs.Before(now); !got.Equal(tc.runs) {
			t.Errorf("%q: runs before %v, want %v", tc.yaml, got, tc.runs)
		}
	}
}
