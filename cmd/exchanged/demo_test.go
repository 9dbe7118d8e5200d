package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// demo --dir keeps its directory, and its summary counts what was
// rejected (the BSN file whole, one row of the other claims file) and
// shows the first reject report as the creditor received it. Without
// --dir its temporary directory is gone after.
func TestDemoKeepsDirAndShowsRejects(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	r := exchanged(t, nil, "demo", "--dir", dir)
	if r.code != exitOK {
		t.Fatalf("demo --dir: %+v", r)
	}
	for _, p := range []string{"exchanged.yaml", "state/ledger.db", "acme/inbox/rejects/claims_2026-11-21.rejects.csv",
		"cases/inbox/claims/claims_2026-11-20.csv"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("demo --dir did not keep %s: %v", p, err)
		}
	}
	for _, want := range []string{
		"rejected: 1 file(s) whole, 1 row(s) in 1 other file(s) (of 4 file(s), 7 row(s) read)\n",
		"\nreject report /inbox/rejects/claims_2026-11-20.rejects.csv (",
		"\n  4,F2026-0419,IBAN,invalid_iban",
		"the demo's files stay in " + dir + "\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The lines shown are the report's own first lines.
	report, err := os.ReadFile(filepath.Join(dir, "acme/inbox/rejects/claims_2026-11-20.rejects.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(report), "\r\n"), "\n")
	for _, l := range lines[:min(len(lines), demoReportLines)] {
		if !strings.Contains(r.stdout, "\n  "+strings.TrimRight(l, "\r")+"\n") {
			t.Errorf("report line %q not shown:\n%s", l, r.stdout)
		}
	}
	if r := exchanged(t, nil, "demo", "--dir", dir); r.code == exitOK || !strings.Contains(r.stderr, "--dir must name a new directory") {
		t.Errorf("demo --dir on an existing directory: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "state/ledger.db")); err != nil {
		t.Errorf("a refused demo --dir touched the kept directory: %v", err)
	}

	r = exchanged(t, nil, "demo")
	if r.code != exitOK || !strings.Contains(r.stdout, "temporary directory is removed") {
		t.Fatalf("demo: %+v", r)
	}
	first := strings.SplitN(r.stdout, "\n", 2)[0]
	tmp := strings.TrimPrefix(first, "exchanged demo in ")
	if tmp == first || tmp == "" {
		t.Fatalf("no directory in %q", first)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("demo without --dir left %s: %v", tmp, err)
	}
}
