package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// privacyConfig writes a config of local partners under work: creditor
// acme, internal cases, bailiff gdw and lawyer adv, with the jobs of a
// claim's life: claims in from acme, handover to gdw and adv, payments
// back to acme, and a document passed unchanged to acme.
func privacyConfig(t *testing.T, work string) string {
	t.Helper()
	for _, d := range []string{"acme/outbox", "acme/inbox/docs", "acme/rejects", "cases/inbox", "cases/outbox/gdw",
		"cases/outbox/adv", "cases/outbox/pay", "cases/outbox/docs", "gdw/in", "adv/in"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(work, "exchanged.yaml")
	src := func(partner, dir, match string) string {
		return fmt.Sprintf(`{partner: %s, dir: %s, match: "%s", done_marker: ".done"}`, partner, dir, match)
	}
	writeFile(t, cfg, []byte(fmt.Sprintf(`version: 1
state_dir: %[1]s/state
http: {listen: ""}
partners:
  acme: {role: creditor, local: {root: %[1]s/acme}}
  cases: {role: internal, local: {root: %[1]s/cases}}
  gdw: {role: bailiff, local: {root: %[1]s/gdw}, contact: "Privacy Office, privacy@gdw.example"}
  adv: {role: lawyer, local: {root: %[1]s/adv}}
jobs:
  claims-in:
    schedule: "@yearly"
    source: %[2]s
    transform: {layout: claim, profile: internal}
    rejects: {partner: acme, dir: /rejects}
    destinations: [{partner: cases, dir: /inbox}]
  handover-gdw:
    schedule: "@yearly"
    source: %[3]s
    transform: {layout: claim, profile: bailiff}
    destinations: [{partner: gdw, dir: /in}]
  handover-adv:
    schedule: "@yearly"
    source: %[4]s
    transform: {layout: claim, profile: lawyer}
    destinations: [{partner: adv, dir: /in}]
  payments-out:
    schedule: "@yearly"
    source: %[5]s
    transform: {layout: payment, profile: creditor-payment}
    destinations: [{partner: acme, dir: /inbox}]
  docs-out:
    schedule: "@yearly"
    source: %[6]s
    destinations: [{partner: acme, dir: /inbox/docs}]
`, work, src("acme", "/outbox", "claims_*.csv"), src("cases", "/outbox/gdw", "*.csv"), src("cases", "/outbox/adv", "*.csv"),
		src("cases", "/outbox/pay", "*.csv"), src("cases", "/outbox/docs", "*.pdf"))))
	put := func(p, data string) {
		writeFile(t, filepath.Join(work, p), []byte(data))
		writeFile(t, filepath.Join(work, p+".done"), nil)
	}
	put("acme/outbox/claims_1.csv", "creditor_ref,debtor_ref,name,principal\n"+
		"R-1,K-1,Jan Jansen,1.00\nR-2,K-2,Piet Pieters,2.00\nR-3,K-REJ,,3.00\n")
	// The case system names each row's creditor.
	put("cases/outbox/gdw/handover_1.csv", "creditor,creditor_ref,debtor_ref,name,principal\n"+
		"acme,R-1,K-1,Jan Jansen,1.00\nacme,R-2,K-2,Piet Pieters,2.00\n")
	put("cases/outbox/adv/handover_2.csv", "creditor,creditor_ref,debtor_ref,name,principal\n"+
		"acme,R-1,K-1,Jan Jansen,1.00\n")
	put("cases/outbox/pay/payments_1.csv", "creditor,creditor_ref,debtor_ref,paid_amount,payment_date\n"+
		"acme,R-1,K-1,1.00,2026-01-02\n")
	put("cases/outbox/docs/letter_1.pdf", "%PDF-1.4 a letter to K-1\n")
	return cfg
}

func TestSubjectAndBreach(t *testing.T) {
	work := t.TempDir()
	cfg := privacyConfig(t, work)
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-in", "handover-gdw", "handover-adv", "payments-out", "docs-out"); r.code != 0 {
		t.Fatalf("once: %+v", r)
	}

	subject := func(debtor string) SubjectAnswer {
		t.Helper()
		a, _ := subjectJSON(t, cfg, "--creditor", "acme", "--debtor", debtor)
		return a
	}
	a := subject("K-1")
	var got []string
	for _, d := range a.Disclosures {
		if !d.Confirmed || !d.Known || d.Match != matchSubject {
			t.Errorf("disclosure %+v: want confirmed, fields known, a match", d)
		}
		if want := map[string]string{"gdw": "Privacy Office, privacy@gdw.example"}[d.Partner]; d.Contact != want {
			t.Errorf("disclosure to %s: contact %q, want %q (the partner's contact: in the config)", d.Partner, d.Contact, want)
		}
		got = append(got, d.Partner+" "+d.Job+" "+d.File+" "+strings.Join(d.Fields, ","))
	}
	want := []string{
		"cases claims-in claims_1.csv case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,email,phone,iban,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs",
		"gdw handover-gdw handover_1.csv case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs",
		"adv handover-adv handover_2.csv case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs",
		"acme payments-out payments_1.csv case_ref,creditor_ref,debtor_ref,paid_amount,payment_date",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("disclosures of K-1:\n got %q\nwant %q", got, want)
	}
	if len(a.Possible) != 0 {
		t.Errorf("possible matches: %+v", a.Possible)
	}
	if len(a.NotRead) != 1 || a.NotRead[0].Partner != "acme" || a.NotRead[0].File != "letter_1.pdf" || a.NotRead[0].Match != matchNotRead {
		t.Errorf("files not read: %+v", a.NotRead)
	}

	if a := subject("K-REJ"); len(a.Disclosures)+len(a.Possible) != 0 {
		t.Errorf("a debtor of a rejected row is listed: %+v", a)
	}

	r := exchanged(t, nil, "subject", "--config", cfg, "--creditor", "acme", "--debtor", "K-1")
	if r.code != 0 || !strings.Contains(r.stdout, "disclosures of this subject: 4") || !strings.Contains(r.stdout, "subjects not read") ||
		!strings.Contains(r.stdout, "privacy@gdw.example") ||
		strings.Contains(r.stdout, "K-1") || strings.Contains(r.stdout, "Jan") {
		t.Errorf("subject table: %+v", r)
	}

	r = exchanged(t, nil, "breach", "--config", cfg, "--partner", "gdw", "--file", "handover_1.csv", "--json")
	if r.code != 0 {
		t.Fatalf("breach: %+v", r)
	}
	var b BreachScope
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatal(err)
	}
	if b.Deliveries != 1 || b.Subjects != 2 || b.Records != 2 || !slices.Equal(b.Creditors, []string{"acme"}) ||
		!slices.Contains(b.Categories, "name") || slices.Contains(b.Categories, "iban") || b.First.IsZero() || b.Unknown {
		t.Errorf("breach of gdw: %+v", b)
	}
	r = exchanged(t, nil, "breach", "--config", cfg, "--partner", "acme")
	if r.code != 0 || !strings.Contains(r.stdout, "1 passed unchanged") || strings.Contains(r.stdout, "K-") {
		t.Errorf("breach of acme: %+v", r)
	}

	// No debtor reference or name is in the ledger's bytes.
	for _, f := range []string{"ledger.db", "ledger.db-wal"} {
		b, err := os.ReadFile(filepath.Join(work, "state", f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range []string{"K-1", "K-2", "K-REJ", "Jan Jansen", "Piet"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", f, s)
			}
		}
	}
}

// subjectJSON runs "exchanged subject --config cfg --json" with args
// through the binary, fails the test unless it exits 0 with an answer, and
// returns the answer and the run.
func subjectJSON(t *testing.T, cfg string, args ...string) (SubjectAnswer, result) {
	t.Helper()
	r := exchanged(t, nil, append([]string{"subject", "--config", cfg, "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("subject %s: %+v", args, r)
	}
	var a SubjectAnswer
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("subject %s: %v\n%s", args, err, r.stdout)
	}
	return a, r
}
