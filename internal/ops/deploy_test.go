package ops

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// The alert rules and the dashboard under deploy/ are written against these metrics:
// the tests below keep them from drifting apart.
var (
	alertRules      = filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml")
	alertRulesTests = filepath.Join("..", "..", "deploy", "prometheus", "alerts_test.yml")
	dashboard       = filepath.Join("..", "..", "deploy", "grafana", "exchanged.json")
)

// TestAlertRules runs `promtool check rules` on deploy/prometheus/alerts.yml and
// `promtool test rules` on its unit tests. Without promtool (Debian's prometheus
// package) the test is skipped, except under CI=true, where it fails.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool unavailable (CI=true): %v", err)
		}
		t.Skipf("promtool unavailable: %v", err)
	}
	for _, args := range [][]string{
		{"check", "rules", alertRules},
		{"test", "rules", alertRulesTests},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// exportedMetrics returns the names of the metric families the registry exposes once
// every metric has a series, with their types.
func exportedMetrics(t *testing.T) map[string]string {
	t.Helper()
	m := NewMetrics("test", func() (map[string]int, error) { return map[string]int{"j": 1}, nil })
	m.Job("j", 0, time.Unix(1, 0))
	m.FileStep("j", "p", "transform", "ok", 1, 1, 1)
	m.Retry("j", "deliver")
	m.RunFinished("j", "ok", time.Second, time.Unix(1, 0), 0)
	m.Reload(true)
	m.Purged("files", 1)
	m.SetOverdue("j", true, time.Unix(1, 0))
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, f := range families {
		names[f.GetName()] = f.GetType().String() // COUNTER, GAUGE, HISTOGRAM, ...
	}
	return names
}

var metricName = regexp.MustCompile(`exchanged_[a-z_]+`)

// usedMetrics returns the exchanged_* names in file.
func usedMetrics(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range metricName.FindAllString(string(b), -1) {
		seen[n] = true
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("%s names no exchanged_ metric", file)
	}
	return names
}

// exported reports whether name is a series of an exported family: the family itself,
// or a histogram's _bucket, _sum or _count.
func exported(families map[string]string, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if typ, ok := families[base]; ok && (typ == "HISTOGRAM" || typ == "SUMMARY") {
				return true
			}
		}
	}
	return false
}

// TestDeployMetricsExist checks that every exchanged_* metric the alert rules and the
// dashboard use is one the code exports.
func TestDeployMetricsExist(t *testing.T) {
	families := exportedMetrics(t)
	for _, file := range []string{alertRules, alertRulesTests, dashboard} {
		for _, name := range usedMetrics(t, file) {
			if !exported(families, name) {
				t.Errorf("%s uses %s, which internal/ops does not export", file, name)
			}
		}
	}
}

// TestDashboard checks the dashboard's shape: a Grafana dashboard whose every panel
// and query use the ${datasource} variable and that offers a job variable.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	type datasource struct{ Type, UID string }
	var d struct {
		UID           string
		Title         string
		SchemaVersion int
		Templating    struct {
			List []struct{ Name, Type string }
		}
		Panels []struct {
			ID         int
			Title      string
			Datasource datasource
			Targets    []struct {
				Datasource datasource
				Expr       string
				RefID      string
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want all set", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["job"] != "query" {
		t.Errorf("templating variables %v: want datasource (datasource) and job (query)", vars)
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no targets", p.Title)
		}
		for _, q := range p.Targets {
			if q.Datasource.UID != "${datasource}" || q.Expr == "" || q.RefID == "" {
				t.Errorf("panel %q: target %+v: want the ${datasource} variable, an expr and a refId", p.Title, q)
			}
		}
	}
}
