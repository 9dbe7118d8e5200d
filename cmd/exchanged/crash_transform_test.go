package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/internal/sshdtest"
)

// claimHeader and claimRows make canonical claim files (layout "claim").
const claimHeader = "case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,email,phone,iban,invoice_number,invoice_date,principal,interest,costs\r\n"

func claimRows(from, n int) []byte {
	b := []byte(claimHeader)
	for i := from; i < from+n; i++ {
		b = fmt.Appendf(b, "C-2026-%04d,F2026-%04d,K-%05d,Henk Visser,Stationsweg,3,1234 AB,Amersfoort,1970-05-06,henk@example.nl,+31612345678,NL91ABNA0417164300,F2026-%04d,2026-08-01,512.40,12.81,40.00\r\n", i, i, i, i)
	}
	return b
}

// TestCrashAtEveryStepTransform is TestCrashAtEveryStep for a job that
// transforms (claim layout, bailiff profile), where a file also rests in
// the states cleaned and transformed: after a SIGKILL at each step and a
// restart, the bailiff has exactly what a run without a crash delivers,
// byte for byte, once.
func TestCrashAtEveryStepTransform(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	files := map[string][]byte{
		"claims_a.csv": claimRows(1, 20000), // ~4 MB: an upload of many requests
		"claims_b.csv": claimRows(30000, 2),
	}
	setup := func(t *testing.T) (cfg, outbox, inbox, state string) {
		cfg, outbox, inbox, work := crashSetup(t, src, dst, files, "bailiff", `
  claims-out:
    schedule: "@hourly"
    source: {partner: acme, dir: OUTBOX, match: "claims_*.csv", done_marker: ".done", after: delete}
    transform: {layout: claim, profile: bailiff}
    destinations:
      - {partner: dest, dir: INBOX, done_marker: ".ok"}
`)
		return cfg, outbox, inbox, filepath.Join(work, "state")
	}
	inboxOf := func(t *testing.T, inbox string) map[string][]byte {
		ents, _ := os.ReadDir(inbox)
		out := map[string][]byte{}
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(inbox, e.Name()))
			out[e.Name()] = b
		}
		return out
	}

	// What a run without a crash delivers.
	cfg, _, inbox, _ := setup(t)
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-out"); r.code != 0 {
		t.Fatalf("reference run: exit %d\n%s", r.code, r.stderr)
	}
	want := inboxOf(t, inbox)
	if len(want) != 4 || len(want["claims_a.csv"]) == 0 || bytes.Contains(want["claims_a.csv"], []byte("henk@example.nl")) {
		t.Fatalf("reference run delivered %d entries; want 2 files and 2 markers, without what the bailiff may not see", len(want))
	}

	for _, step := range crashSteps {
		t.Run(step, func(t *testing.T) {
			cfg, outbox, inbox, state := setup(t)
			r := exchanged(t, []string{"EXCHANGED_CRASH_AT=" + step}, "once", "--config", cfg, "claims-out")
			if r.signal != "killed" {
				t.Fatalf("run with EXCHANGED_CRASH_AT=%s was not killed: %+v", step, r)
			}
			r = exchanged(t, nil, "once", "--config", cfg, "claims-out")
			if r.code != 0 {
				t.Fatalf("restart after a crash at %s: exit %d\n%s", step, r.code, r.stderr)
			}
			got := inboxOf(t, inbox)
			if len(got) != len(want) {
				var names []string
				for n := range got {
					names = append(names, n)
				}
				t.Fatalf("inbox after recovery = %s; want %d entries (exactly once, no temp files)", strings.Join(names, " "), len(want))
			}
			for name, data := range want {
				if !bytes.Equal(got[name], data) {
					t.Errorf("%s differs from what a run without a crash delivers", name)
				}
			}
			if left, _ := os.ReadDir(outbox); len(left) != 0 {
				t.Errorf("source left with %d entries", len(left))
			}
			if st, _ := os.ReadDir(filepath.Join(state, "staging")); len(st) != 0 {
				t.Errorf("staging not empty: %d entries", len(st))
			}
		})
	}
}
