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

	"github.com/exchanged/exchanged/internal/pgtest"
	"github.com/exchanged/exchanged/internal/proftpdtest"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// TestPrivacyE2E is issue 11's end-to-end check over real servers on
// loopback, through the real binary: claims in from creditor acme on an
// OpenSSH sshd (its host key in a known_hosts file), handover to bailiff
// gdw on a second sshd (its host key pinned as "ssh-ed25519 SHA256:...")
// and to lawyer adv in ProFTPD's STOR-only drop folder (upload: direct,
// with a done marker), payments and a pass-through letter back to acme;
// the agency's case system is a local partner. Then exchanged subject and
// exchanged breach, run by the binary, must answer exactly, and the
// ledger's bytes must hold no debtor reference or name. It runs on a
// SQLite ledger and on a PostgreSQL one (ledger.postgres).
func TestPrivacyE2E(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { privacyE2E(t, false) })
	t.Run("postgres", func(t *testing.T) { privacyE2E(t, true) })
}

func privacyE2E(t *testing.T, postgres bool) {
	acmeSrv, gdwSrv, advSrv := sshdtest.Start(t), sshdtest.Start(t), proftpdtest.Start(t)
	work := t.TempDir()

	// acme's dirs on its sshd (absolute paths: no chroot), gdw's on the
	// other, adv's drop folder on ProFTPD (chrooted: "/drop").
	acme := func(p string) string { return filepath.Join(acmeSrv.Root, "acme", p) }
	gdwIn := filepath.Join(gdwSrv.Root, "gdw", "in")
	for _, d := range []string{acme("outbox"), acme("inbox/docs"), acme("rejects"), gdwIn} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"cases/inbox", "cases/outbox/gdw", "cases/outbox/adv", "cases/outbox/pay", "cases/outbox/docs"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	put := func(p, data string) {
		writeFile(t, p, []byte(data))
		writeFile(t, p+".done", nil)
	}
	put(acme("outbox/claims_1.csv"), "creditor_ref,debtor_ref,name,principal\n"+
		"R-1,K-1,Jan Jansen,1.00\nR-2,K-2,Piet Pieters,2.00\nR-3,K-REJ,,3.00\n")
	// The case system names each row's creditor.
	put(filepath.Join(work, "cases/outbox/gdw/handover_1.csv"), "creditor,creditor_ref,debtor_ref,name,principal\n"+
		"acme,R-1,K-1,Jan Jansen,1.00\nacme,R-2,K-2,Piet Pieters,2.00\n")
	put(filepath.Join(work, "cases/outbox/adv/handover_2.csv"), "creditor,creditor_ref,debtor_ref,name,principal\n"+
		"acme,R-1,K-1,Jan Jansen,1.00\n")
	put(filepath.Join(work, "cases/outbox/pay/payments_1.csv"), "creditor,creditor_ref,debtor_ref,paid_amount,payment_date\n"+
		"acme,R-1,K-1,1.00,2026-01-02\n")
	put(filepath.Join(work, "cases/outbox/docs/letter_1.pdf"), "%PDF-1.4 a letter to K-1\n")

	src := func(partner, dir, match string) string {
		return fmt.Sprintf(`{partner: %s, dir: "%s", match: "%s", done_marker: ".done"}`, partner, dir, match)
	}
	cfg := filepath.Join(work, "exchanged.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf(`version: 1
state_dir: %[1]s/state
http: {listen: ""}
log: {level: debug, format: json}
partners:
  acme:
    role: creditor
    contact: privacy@acme.example
    sftp: {host: 127.0.0.1, port: %[2]d, user: %[3]s, private_key: "file:%[4]s", known_hosts: "%[5]s"}
  cases: {role: internal, local: {root: %[1]s/cases}}
  gdw:
    role: bailiff
    contact: fg@gdw.example
    sftp: {host: 127.0.0.1, port: %[6]d, user: %[7]s, private_key: "file:%[8]s", host_key: "ssh-ed25519 %[9]s"}
  adv:
    role: lawyer
    contact: kantoor@adv.example
    sftp: {host: 127.0.0.1, port: %[10]d, user: %[11]s, private_key: "file:%[12]s", known_hosts: "%[13]s"}
jobs:
  claims-in:
    schedule: "@yearly"
    source: %[14]s
    transform: {layout: claim, profile: internal}
    rejects: {partner: acme, dir: "%[15]s"}
    destinations: [{partner: cases, dir: /inbox}]
  handover-gdw:
    schedule: "@yearly"
    source: %[16]s
    transform: {layout: claim, profile: bailiff}
    destinations: [{partner: gdw, dir: "%[17]s", done_marker: ".ok"}]
  handover-adv:
    schedule: "@yearly"
    source: %[18]s
    transform: {layout: claim, profile: lawyer}
    destinations: [{partner: adv, dir: "%[19]s", upload: direct, done_marker: ".done"}]
  payments-out:
    schedule: "@yearly"
    source: %[20]s
    transform: {layout: payment, profile: creditor-payment}
    destinations: [{partner: acme, dir: "%[21]s"}]
  docs-out:
    schedule: "@yearly"
    source: %[22]s
    destinations: [{partner: acme, dir: "%[23]s"}]
`, work,
		acmeSrv.Port, acmeSrv.User, acmeSrv.ClientKeyPath, acmeSrv.KnownHostsPath,
		gdwSrv.Port, gdwSrv.User, gdwSrv.ClientKeyPath, gdwSrv.Fingerprint,
		advSrv.Port, advSrv.User, advSrv.ClientKeyPath, advSrv.KnownHostsPath,
		src("acme", acme("outbox"), "claims_*.csv"), acme("rejects"),
		src("cases", "/outbox/gdw", "*.csv"), gdwIn,
		src("cases", "/outbox/adv", "*.csv"), advSrv.DropDir,
		src("cases", "/outbox/pay", "*.csv"), acme("inbox"),
		src("cases", "/outbox/docs", "*.pdf"), acme("inbox/docs"))))
	var dsn string
	if postgres {
		dsn = pgtest.DSN(t)
		usePostgresLedger(t, cfg, work, dsn)
	}

	if r := exchanged(t, nil, "config", "validate", "--config", cfg); r.code != 0 {
		t.Fatalf("config validate: %+v", r)
	}
	r := exchanged(t, nil, "once", "--config", cfg, "claims-in", "handover-gdw", "handover-adv", "payments-out", "docs-out")
	if r.code != 0 {
		t.Fatalf("once: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// What arrived where, over the wire.
	dirIs := func(dir string, want ...string) {
		t.Helper()
		if got := strings.Join(names(t, dir), " "); got != strings.Join(want, " ") {
			t.Errorf("%s holds %q, want %q", dir, got, strings.Join(want, " "))
		}
	}
	dirIs(filepath.Join(work, "cases/inbox"), "claims_1.csv")
	dirIs(gdwIn, "handover_1.csv", "handover_1.csv.ok")
	dirIs(advSrv.DropPath, "handover_2.csv", "handover_2.csv.done")
	dirIs(acme("inbox"), "docs", "payments_1.csv")
	dirIs(acme("inbox/docs"), "letter_1.pdf")
	if rej := names(t, acme("rejects")); len(rej) != 1 {
		t.Errorf("rejects at acme: %q, want one report", rej)
	}
	if b, _ := os.ReadFile(filepath.Join(work, "cases/inbox/claims_1.csv")); bytes.Contains(b, []byte("K-REJ")) ||
		!bytes.Contains(b, []byte("K-1")) || !bytes.Contains(b, []byte("K-2")) {
		t.Errorf("imported claims:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(gdwIn, "handover_1.csv")); !bytes.Contains(b, []byte("Piet Pieters")) ||
		bytes.Contains(b, []byte("email")) || bytes.Contains(b, []byte("iban")) {
		t.Errorf("bailiff's file:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(advSrv.DropPath, "handover_2.csv")); !bytes.Contains(b, []byte("Jan Jansen")) {
		t.Errorf("lawyer's file:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(acme("inbox/docs"), "letter_1.pdf")); string(b) != "%PDF-1.4 a letter to K-1\n" {
		t.Errorf("letter passed changed: %q", b)
	}

	subject := func(debtor string) SubjectAnswer {
		t.Helper()
		a, _ := subjectJSON(t, cfg, "--creditor", "acme", "--debtor", debtor)
		return a
	}
	a := subject("K-1")
	contacts := map[string]string{"acme": "privacy@acme.example", "gdw": "fg@gdw.example", "adv": "kantoor@adv.example"}
	var got []string
	for _, d := range a.Disclosures {
		if !d.Confirmed || d.ConfirmAt.IsZero() || d.SentAt.IsZero() || !d.Known || d.Match != matchSubject {
			t.Errorf("disclosure %+v: want confirmed, fields known, a match", d)
		}
		// Each recipient is named with the contact its config gives, so
		// that the agency can notify it (art. 19).
		if d.Contact != contacts[d.Partner] {
			t.Errorf("disclosure to %s names contact %q, want %q", d.Partner, d.Contact, contacts[d.Partner])
		}
		got = append(got, strings.Join([]string{d.Partner, d.Role, d.Job, d.Dir, d.File, strings.Join(d.Fields, ",")}, " "))
	}
	const (
		internalFields = "case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,email,phone,iban,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs"
		handoverFields = "case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs"
		paymentFields  = "case_ref,creditor_ref,debtor_ref,paid_amount,payment_date"
	)
	want := []string{
		"cases internal claims-in /inbox claims_1.csv " + internalFields,
		"gdw bailiff handover-gdw " + gdwIn + " handover_1.csv " + handoverFields,
		"adv lawyer handover-adv " + advSrv.DropDir + " handover_2.csv " + handoverFields,
		"acme creditor payments-out " + acme("inbox") + " payments_1.csv " + paymentFields,
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("disclosures of K-1:\n got %q\nwant %q", got, want)
	}
	if len(a.Possible) != 0 {
		t.Errorf("possible matches: %+v", a.Possible)
	}
	if len(a.NotRead) != 1 || a.NotRead[0].Partner != "acme" || a.NotRead[0].Job != "docs-out" ||
		a.NotRead[0].File != "letter_1.pdf" || a.NotRead[0].Match != matchNotRead || !a.NotRead[0].Confirmed {
		t.Errorf("files not read: %+v", a.NotRead)
	}

	if a := subject("K-REJ"); len(a.Disclosures)+len(a.Possible) != 0 {
		t.Errorf("a debtor of a rejected row is listed: %+v", a)
	}

	r = exchanged(t, nil, "subject", "--config", cfg, "--creditor", "acme", "--debtor", "K-1")
	if r.code != 0 || !strings.Contains(r.stdout, "disclosures of this subject: 4") || !strings.Contains(r.stdout, "subjects not read") ||
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
	if b.Partner != "gdw" || b.Deliveries != 1 || b.Subjects != 2 || b.Records != 2 || b.NotRead != 0 ||
		!slices.Equal(b.Creditors, []string{"acme"}) || strings.Join(b.Categories, ",") != handoverFields ||
		b.First.IsZero() || b.Last.IsZero() || b.Unknown {
		t.Errorf("breach of gdw: %+v", b)
	}
	if strings.Contains(r.stdout, "K-") || strings.Contains(r.stdout, "Jan") || strings.Contains(r.stdout, "Piet") {
		t.Errorf("breach of gdw prints personal data:\n%s", r.stdout)
	}
	r = exchanged(t, nil, "breach", "--config", cfg, "--partner", "acme", "--json")
	if r.code != 0 {
		t.Fatalf("breach of acme: %+v", r)
	}
	b = BreachScope{}
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatal(err)
	}
	if b.NotRead != 1 || !b.Unknown {
		t.Errorf("breach of acme: %+v, want the letter as one file not read", b)
	}
	r = exchanged(t, nil, "breach", "--config", cfg, "--partner", "acme")
	if r.code != 0 || !strings.Contains(r.stdout, "1 passed unchanged") || strings.Contains(r.stdout, "K-") {
		t.Errorf("breach of acme: %+v", r)
	}

	// No debtor reference or name is in the ledger's bytes.
	ledgerBytes := map[string][]byte{}
	for _, f := range []string{"ledger.db", "ledger.db-wal"} {
		data, err := os.ReadFile(filepath.Join(work, "state", f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		ledgerBytes[f] = data
	}
	if postgres {
		dump := pgDump(t, dsn)
		if !bytes.Contains(dump, []byte("subjects {")) || !bytes.Contains(dump, []byte("handover_1.csv")) {
			t.Errorf("the PostgreSQL ledger has no subjects or no handover: the dump reads nothing")
		}
		ledgerBytes["the PostgreSQL ledger"] = dump
		if _, err := os.Stat(filepath.Join(work, "state", "ledger.db")); !os.IsNotExist(err) {
			t.Errorf("a SQLite ledger beside the PostgreSQL one: %v", err)
		}
	}
	for f, data := range ledgerBytes {
		for _, s := range []string{"K-1", "K-2", "K-REJ", "Jan Jansen", "Piet"} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds %q", f, s)
			}
		}
	}
}
