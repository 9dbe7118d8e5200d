package ops

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// SetOverdue drives exchanged_file_overdue and Overdue; DropOverdue and
// Forget remove both.
func TestMetricsOverdue(t *testing.T) {
	m := NewMetrics("test", nil)
	due := time.Date(2026, 11, 30, 8, 30, 0, 0, time.UTC)
	if over, d := m.Overdue("a"); over || !d.IsZero() {
		t.Errorf("Overdue of an unknown job = %v, %v", over, d)
	}
	m.SetOverdue("a", true, due)
	m.SetOverdue("b", false, time.Time{})
	if over, d := m.Overdue("a"); !over || !d.Equal(due) {
		t.Errorf("Overdue(a) = %v, %v; want true, %v", over, d, due)
	}
	want := `
# HELP exchanged_file_overdue 1 while the job's expected file is overdue (its due time passed and no file was seen that day), else 0; only jobs with an expect.
# TYPE exchanged_file_overdue gauge
exchanged_file_overdue{job="a"} 1
exchanged_file_overdue{job="b"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "exchanged_file_overdue"); err != nil {
		t.Error(err)
	}
	m.SetOverdue("a", false, due)
	m.DropOverdue("b")
	want = `
# HELP exchanged_file_overdue 1 while the job's expected file is overdue (its due time passed and no file was seen that day), else 0; only jobs with an expect.
# TYPE exchanged_file_overdue gauge
exchanged_file_overdue{job="a"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "exchanged_file_overdue"); err != nil {
		t.Error(err)
	}
	m.SetOverdue("a", true, due)
	m.Forget("a")
	if over, _ := m.Overdue("a"); over {
		t.Error("Overdue(a) after Forget")
	}
	if n := testutil.CollectAndCount(m.overdue); n != 0 {
		t.Errorf("%d exchanged_file_overdue series after Forget, want 0", n)
	}
}
