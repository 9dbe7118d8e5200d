package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSubjectByCase: the flow of TestSubjectAndBreach with the agency's
// case reference in every file: subject --case lists the deliveries
// --debtor lists, an unknown case lists none, and the case reference is
// neither printed nor in the ledger's bytes.
func TestSubjectByCase(t *testing.T) {
	work := t.TempDir()
	cfg := privacyConfig(t, work)
	// The same files, each row with its case (K-1's is ZK-7731, K-2's ZK-7732).
	for p, data := range map[string]string{
		"acme/outbox/claims_1.csv": "case_ref,creditor_ref,debtor_ref,name,principal\n" +
			"ZK-7731,R-1,K-1,Jan Jansen,1.00\nZK-7732,R-2,K-2,Piet Pieters,2.00\nZK-7733,R-3,K-REJ,,3.00\n",
		"cases/outbox/gdw/handover_1.csv": "case_ref,creditor,creditor_ref,debtor_ref,name,principal\n" +
			"ZK-7731,acme,R-1,K-1,Jan Jansen,1.00\nZK-7732,acme,R-2,K-2,Piet Pieters,2.00\n",
		"cases/outbox/adv/handover_2.csv": "case_ref,creditor,creditor_ref,debtor_ref,name,principal\n" +
			"ZK-7731,acme,R-1,K-1,Jan Jansen,1.00\n",
		"cases/outbox/pay/payments_1.csv": "case_ref,creditor,creditor_ref,debtor_ref,paid_amount,payment_date\n" +
			"ZK-7731,acme,R-1,K-1,1.00,2026-01-02\n",
	} {
		writeFile(t, filepath.Join(work, p), []byte(data))
	}
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-in", "handover-gdw", "handover-adv", "payments-out", "docs-out"); r.code != 0 {
		t.Fatalf("once: %+v", r)
	}

	answer := func(args ...string) SubjectAnswer {
		t.Helper()
		a, r := subjectJSON(t, cfg, args...)
		if strings.Contains(r.stdout, "ZK-") || strings.Contains(r.stderr, "ZK-") {
			t.Errorf("subject %s prints the case reference: %+v", args, r)
		}
		return a
	}
	lines := func(ds []SubjectDisclosure) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Partner+" "+d.Job+" "+d.File+" "+d.Match+" "+strings.Join(d.Fields, ","))
		}
		slices.Sort(out)
		return out
	}
	byDebtor := answer("--creditor", "acme", "--debtor", "K-1")
	if len(byDebtor.Disclosures) != 4 {
		t.Fatalf("--debtor K-1: %d disclosures, want 4: %+v", len(byDebtor.Disclosures), byDebtor.Disclosures)
	}
	for _, args := range [][]string{{"--case", "ZK-7731"}, {"--creditor", "acme", "--case", "ZK-7731"}} {
		a := answer(args...)
		if got, want := lines(a.Disclosures), lines(byDebtor.Disclosures); !slices.Equal(got, want) {
			t.Errorf("subject %s:\n got %q\nwant %q (as --debtor)", args, got, want)
		}
		if len(a.Possible) != 0 {
			t.Errorf("subject %s: possible %+v", args, a.Possible)
		}
		if got, want := lines(a.NotRead), lines(byDebtor.NotRead); len(got) != 1 || !slices.Equal(got, want) {
			t.Errorf("subject %s: not read %q, want %q (as --debtor)", args, got, want)
		}
	}
	// K-2's case went to cases and gdw only.
	if got := lines(answer("--case", "ZK-7732").Disclosures); len(got) != 2 ||
		!strings.HasPrefix(got[0], "cases claims-in") || !strings.HasPrefix(got[1], "gdw handover-gdw") {
		t.Errorf("--case ZK-7732: %q", got)
	}
	for _, args := range [][]string{{"--case", "ZK-0000"}, {"--case", "ZK-7733"}, {"--creditor", "acme", "--case", "K-1"}} {
		if a := answer(args...); len(a.Disclosures)+len(a.Possible) != 0 {
			t.Errorf("subject %s lists %+v", args, a)
		}
	}

	r := exchanged(t, nil, "subject", "--config", cfg, "--case", "ZK-7731")
	if r.code != 0 || !strings.Contains(r.stdout, "disclosures of this subject: 4") || !strings.Contains(r.stdout, "subjects not read") ||
		strings.Contains(r.stdout, "ZK-") || strings.Contains(r.stdout, "K-1") || strings.Contains(r.stdout, "Jan") {
		t.Errorf("subject --case table: %+v", r)
	}
	for _, args := range [][]string{
		{"--creditor", "acme", "--debtor", "K-1", "--case", "ZK-7731"}, // one or the other
		{"--debtor", "K-1"}, // --debtor needs its creditor
		{},
	} {
		r := exchanged(t, nil, append([]string{"subject", "--config", cfg}, args...)...)
		if r.code != 2 || strings.Contains(r.stdout+r.stderr, "ZK-") {
			t.Errorf("subject %s: %+v, want a usage error", args, r)
		}
	}

	for _, f := range []string{"ledger.db", "ledger.db-wal"} {
		b, err := os.ReadFile(filepath.Join(work, "state", f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range []string{"ZK-", "K-1", "K-2", "Jan Jansen"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", f, s)
			}
		}
	}
	if r := exchanged(t, nil, "audit", "verify", "--config", cfg); r.code != 0 {
		t.Errorf("audit verify: %+v", r)
	}
}
