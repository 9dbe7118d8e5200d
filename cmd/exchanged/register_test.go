package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
)

// register runs "exchanged register --json" on cfg and decodes its output.
func registerJSON(t *testing.T, env []string, cfg string) *Register {
	t.Helper()
	r := exchanged(t, env, "register", "--config", cfg, "--json")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("register --json: %+v", r)
	}
	var reg Register
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reg); err != nil {
		t.Fatalf("register --json: %v\n%s", err, r.stdout)
	}
	return &reg
}

// noSecretsIn fails the test if out holds a secret value of env.
func noSecretsIn(t *testing.T, out string, env []string) {
	t.Helper()
	for _, kv := range env {
		_, v, _ := strings.Cut(kv, "=")
		for _, line := range strings.Split(v, "\n") {
			if len(line) >= 8 && strings.Contains(out, line) {
				t.Errorf("output holds a secret line of %s", kv[:strings.Index(kv, "=")])
			}
		}
	}
	for _, ref := range []string{"env:", "file:/"} {
		if strings.Contains(out, ref) {
			t.Errorf("output names a secret reference (%s)", ref)
		}
	}
}

// The register of the example config, field by field.
func TestRegisterExample(t *testing.T) {
	cfg, env := exampleConfig(t)
	reg := registerJSON(t, env, cfg)

	if reg.Config != cfg {
		t.Errorf("config %q, want %q", reg.Config, cfg)
	}
	zuiderzee := Party{Partner: "zuiderzee-energie", Role: "creditor", Country: "NL", InEEA: true,
		Contact: "Privacy Office Zuiderzee Energie, privacy@zuiderzee-energie.example"}
	jansen := Party{Partner: "gdw-jansen", Role: "bailiff", Country: "NL", InEEA: true,
		Contact: "Jansen & De Vries, functionaris gegevensbescherming, fg@jansen-devries.example"}
	bakker := Party{Partner: "bakker-advocaten", Role: "lawyer", Country: "NL", InEEA: true,
		Contact: "Bakker Advocaten, mr. A. Bakker, privacy@bakkeradvocaten.example"}
	cases := Party{Partner: "cases", Role: "internal", Country: "NL", InEEA: true}

	claimAll := Data{Categories: []string{"reference", "person", "birth", "contact", "bank", "invoice", "amount"},
		Fields: []string{"case_ref", "creditor_ref", "debtor_ref", "name", "street", "house_number", "postcode", "city",
			"birth_date", "email", "phone", "iban", "kvk", "btw_id", "invoice_number", "invoice_date", "principal", "interest", "costs",
			"creditor"}}
	// A bailiff and a lawyer get no contact details and no bank account.
	handover := Data{Categories: []string{"reference", "person", "birth", "invoice", "amount"},
		Fields: []string{"case_ref", "creditor_ref", "debtor_ref", "name", "street", "house_number", "postcode", "city",
			"birth_date", "kvk", "btw_id", "invoice_number", "invoice_date", "principal", "interest", "costs"}}
	rejects := Data{Categories: []string{"reference"}, Fields: []string{"creditor_ref"}}
	none := Data{Categories: []string{}, Fields: []string{}}
	zuiderzeeClaims := Data{Categories: []string{"reference", "person", "contact", "invoice", "amount"},
		Fields: []string{"creditor_ref", "debtor_ref", "name", "street", "house_number", "postcode", "city", "email",
			"invoice_number", "invoice_date", "principal"}}
	// The case system's own files say whose debtor a row is (creditor: a
	// partner's name, no personal data); it is read, never sent on.
	payments := Data{Categories: []string{"reference", "bank", "status"},
		Fields: []string{"case_ref", "creditor_ref", "debtor_ref", "paid_amount", "payment_date", "iban", "creditor"}}
	paymentsOut := Data{Categories: payments.Categories, Fields: payments.Fields[:len(payments.Fields)-1]}
	status := Data{Categories: []string{"reference", "amount", "status"},
		Fields: []string{"case_ref", "creditor_ref", "debtor_ref", "status_code", "status_date", "principal"}}

	want := []Activity{
		{Job: "gdw-jansen-returns", Purpose: "Receiving the bailiff's reports on the cases handed over",
			Schedule: "@every 30m", Source: jansen, Subjects: "debtors (presumed: the files are not read)",
			Read: none, Recipients: []Disclosure{{Party: cases, Kind: "delivery", Data: none}}},
		{Job: "handover-bakker-advocaten", Purpose: "Handing disputed or unpaid claims over to the lawyer for court proceedings",
			Schedule: "30 6 * * 1-5", Source: cases, Subjects: "debtors of the creditors' claims", Record: "claim", ContentsRead: true,
			Read: claimAll, Recipients: []Disclosure{
				{Party: bakker, Kind: "delivery", Profile: "lawyer", Data: handover},
				{Party: cases, Kind: "reject report", Data: rejects}}},
		{Job: "handover-gdw-jansen", Purpose: "Handing unpaid claims over to the bailiff for collection under a court order",
			Schedule: "0 6 * * 1-5", Source: cases, Subjects: "debtors of the creditors' claims", Record: "claim", ContentsRead: true,
			Read: claimAll, Recipients: []Disclosure{
				{Party: jansen, Kind: "delivery", Profile: "bailiff", Data: handover},
				{Party: cases, Kind: "reject report", Data: rejects}}},
		{Job: "zuiderzee-claims-in", Purpose: "Receiving the creditor's claims to collect them on its behalf",
			Schedule: "*/15 7-19 * * 1-5", Source: zuiderzee, Subjects: "debtors of the creditors' claims", Record: "claim", ContentsRead: true,
			Read: zuiderzeeClaims, Recipients: []Disclosure{
				{Party: cases, Kind: "delivery", Profile: "internal", Data: zuiderzeeClaims},
				{Party: zuiderzee, Kind: "reject report", Data: rejects}}},
		{Job: "zuiderzee-payments-out", Purpose: "Reporting the debtors' payments to the creditor, and archiving them",
			Schedule: "0 22 * * *", Source: cases, Subjects: "debtors who paid on a claim", Record: "payment", ContentsRead: true,
			Read: payments, Recipients: []Disclosure{
				// The creditor does not get the debtor's IBAN back; the archive does.
				{Party: zuiderzee, Kind: "delivery", Profile: "creditor-payment", Data: Data{Categories: []string{"reference", "status"},
					Fields: []string{"case_ref", "creditor_ref", "debtor_ref", "paid_amount", "payment_date"}}},
				{Party: cases, Kind: "delivery", Profile: "internal", Data: paymentsOut}}},
		{Job: "zuiderzee-status-out", Purpose: "Reporting the status of each case to the creditor",
			Schedule: "@daily", Source: cases, Subjects: "debtors whose case status is reported", Record: "status", ContentsRead: true,
			Read: status, Recipients: []Disclosure{{Party: zuiderzee, Kind: "delivery", Profile: "creditor-status", Data: status}}},
	}
	if len(reg.Activities) != len(want) {
		t.Fatalf("%d activities, want %d: %+v", len(reg.Activities), len(want), reg.Activities)
	}
	for i, w := range want {
		got := reg.Activities[i]
		for _, f := range []struct {
			name      string
			got, want any
		}{
			{"job", got.Job, w.Job}, {"purpose", got.Purpose, w.Purpose}, {"schedule", got.Schedule, w.Schedule},
			{"source", got.Source, w.Source}, {"subjects", got.Subjects, w.Subjects}, {"record", got.Record, w.Record},
			{"contents_read", got.ContentsRead, w.ContentsRead}, {"read", got.Read, w.Read},
			{"recipients", got.Recipients, w.Recipients},
		} {
			if !reflect.DeepEqual(f.got, f.want) {
				t.Errorf("activity %s: %s\n got %+v\nwant %+v", w.Job, f.name, f.got, f.want)
			}
		}
	}

	if want := []Party{bakker, cases, jansen, zuiderzee}; !reflect.DeepEqual(reg.Recipients, want) {
		t.Errorf("recipients\n got %+v\nwant %+v", reg.Recipients, want)
	}
	if len(reg.Transfers) != 0 {
		t.Errorf("transfers %+v, want none", reg.Transfers)
	}
	if len(reg.Retention) != 3 || reg.Retention[0].Period != "7 years" || !strings.Contains(reg.Retention[0].Basis, "AWR art. 52") ||
		!strings.HasPrefix(reg.Retention[0].Records, "delivered files and their disclosures") {
		t.Errorf("retention %+v", reg.Retention)
	}
	measure := func(name, applies string) *Measure {
		for i, m := range reg.Measures {
			if m.Measure == name && m.AppliesTo == applies {
				return &reg.Measures[i]
			}
		}
		t.Errorf("no measure %q for %s in %+v", name, applies, reg.Measures)
		return &Measure{}
	}
	if m := measure("server authentication", "gdw-jansen"); !m.InForce ||
		!strings.HasPrefix(m.Detail, "pinned host key SHA256:Wuad6I6hqDpiy6PvDb8acUGiRkfqgeVX6/j6V2huHoI;") {
		t.Errorf("gdw-jansen: %+v", m)
	}
	if m := measure("server authentication", "zuiderzee-energie"); !m.InForce ||
		!strings.HasPrefix(m.Detail, "known_hosts file "+filepath.Join(filepath.Dir(cfg), "known_hosts")+";") {
		t.Errorf("zuiderzee-energie: %+v", m)
	}
	for _, p := range []string{"bakker-advocaten", "gdw-jansen", "zuiderzee-energie"} {
		if m := measure("encryption in transit", p); !m.InForce || m.Detail != "SSH (SFTP)" {
			t.Errorf("%s: %+v", p, m)
		}
	}
	if m := measure("encryption in transit", "cases"); !m.InForce || !strings.Contains(m.Detail, "no network transfer") {
		t.Errorf("cases: %+v", m)
	}
	if m := measure("staging permissions", "all"); !m.InForce || !strings.Contains(m.Detail, "directories 0700, files 0600") {
		t.Errorf("staging: %+v", m)
	}
	if m := measure("encryption at rest (staging)", "all"); !m.InForce || !strings.Contains(m.Detail, "generated into state_dir/staging.key") {
		t.Errorf("at rest: %+v", m)
	}
	if want := []string{"jobs.gdw-jansen-returns: files pass unchanged and are not read; " +
		"the categories of personal data they hold are not known to exchanged"}; !reflect.DeepEqual(reg.Warnings, want) {
		t.Errorf("warnings\n got %q\nwant %q", reg.Warnings, want)
	}

	// The Markdown says the same.
	r := exchanged(t, env, "register", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("register: %+v", r)
	}
	for _, s := range []string{
		"# Register of processing (AVG/GDPR art. 30)",
		"### handover-gdw-jansen\n\n- **Purpose:** Handing unpaid claims over to the bailiff for collection under a court order\n",
		"- **Data subjects:** debtors of the creditors' claims (claim records)\n",
		"| gdw-jansen | bailiff | NL | Jansen & De Vries, functionaris gegevensbescherming, fg@jansen-devries.example | delivery | bailiff | reference, person, birth, invoice, amount | case_ref, creditor_ref, debtor_ref, name, street, house_number, postcode, city, birth_date, kvk, btw_id, invoice_number, invoice_date, principal, interest, costs |\n",
		"| cases | internal | NL | — (the agency's own) | reject report | — | reference | creditor_ref |\n",
		"| bakker-advocaten | lawyer | NL | yes | Bakker Advocaten, mr. A. Bakker, privacy@bakkeradvocaten.example |\n",
		"## Transfers outside the EU/EEA\n\nNone: every partner is in the EU/EEA.\n",
		"| encryption at rest (staging) | all | yes | AES-256-GCM (DARE 2.0, authenticated 64 KiB packages, a key per file derived with HKDF-SHA256) under a key generated into state_dir/staging.key",
		"| delivered files and their disclosures (ledger: metadata and keyed pseudonyms, no file contents) | 7 years |",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("markdown lacks %q:\n%s", s, r.stdout)
		}
	}
	noSecretsIn(t, r.stdout, env)
	rj := exchanged(t, env, "register", "--config", cfg, "--json")
	noSecretsIn(t, rj.stdout, env)
}

// transferConfig is a config whose lawyer is in the US, with the transfer
// block given (or none), and neither a purpose for its job nor a country
// or contact for its creditor.
func transferConfig(t *testing.T, transfer string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "exchanged.yaml")
	writeFile(t, p, []byte(fmt.Sprintf(`version: 1
state_dir: %s
partners:
  acme: {role: creditor, local: {root: %s}}
  cases: {role: internal, country: NL, local: {root: %s}}
  us-law:
    role: lawyer
    country: US
    contact: "Counsel's privacy desk, privacy@uslaw.example"
%s    local: {root: %s}
jobs:
  handover:
    source: {partner: cases, dir: /outbox}
    schedule: "@daily"
    transform: {layout: claim, profile: lawyer}
    destinations: [{partner: us-law, dir: /in}]
  acme-in:
    purpose: Claims in
    schedule: "@daily"
    source: {partner: acme, dir: /outbox}
    destinations: [{partner: cases, dir: /inbox}]
`, filepath.Join(dir, "state"), filepath.Join(dir, "acme"), filepath.Join(dir, "cases"), transfer, filepath.Join(dir, "us-law"))))
	return p
}

// A partner outside the EU/EEA is refused without a transfer basis, naming
// the field; with one it is accepted and listed as a transfer.
func TestRegisterTransfer(t *testing.T) {
	refused := transferConfig(t, "")
	r := exchanged(t, nil, "config", "validate", "--config", refused)
	if r.code != exitUsage || !strings.Contains(r.stderr, "partners.us-law.transfer: required: US is outside the EU/EEA") {
		t.Fatalf("validate without a transfer basis: %+v", r)
	}
	if r := exchanged(t, nil, "register", "--config", refused); r.code != exitUsage || !strings.Contains(r.stderr, "partners.us-law.transfer") {
		t.Fatalf("register without a transfer basis: %+v", r)
	}

	ok := transferConfig(t, `    transfer: {basis: scc, reference: "SCC 2021/914 module 1, signed 2026-03-01"}`+"\n")
	if r := exchanged(t, nil, "config", "validate", "--config", ok); r.code != 0 {
		t.Fatalf("validate with a transfer basis: %+v", r)
	}
	reg := registerJSON(t, nil, ok)
	want := []Transfer{{Partner: "us-law", Country: "US", Basis: "scc", Reference: "SCC 2021/914 module 1, signed 2026-03-01", Jobs: []string{"handover"}}}
	if !reflect.DeepEqual(reg.Transfers, want) {
		t.Errorf("transfers\n got %+v\nwant %+v", reg.Transfers, want)
	}
	usLaw := Party{Partner: "us-law", Role: "lawyer", Country: "US", InEEA: false, Contact: "Counsel's privacy desk, privacy@uslaw.example"}
	acme := Party{Partner: "acme", Role: "creditor", Country: "NL", CountryAssumed: true, InEEA: true}
	if !slices.Contains(reg.Recipients, usLaw) || !slices.Contains(reg.Recipients, acme) {
		t.Errorf("recipients %+v", reg.Recipients)
	}
	if len(reg.Activities) != 2 || reg.Activities[1].Job != "handover" || reg.Activities[1].Purpose != "" ||
		reg.Activities[1].Recipients[0].Party != usLaw {
		t.Errorf("activities %+v", reg.Activities)
	}
	wantWarnings := []string{
		"jobs.acme-in: files pass unchanged and are not read; the categories of personal data they hold are not known to exchanged",
		"jobs.handover: no purpose stated; set jobs.handover.purpose",
		"partners.acme: country not stated; NL assumed; set partners.acme.country",
	}
	if !reflect.DeepEqual(reg.Warnings, wantWarnings) {
		t.Errorf("warnings\n got %q\nwant %q", reg.Warnings, wantWarnings)
	}

	r = exchanged(t, nil, "register", "--config", ok)
	for _, s := range []string{
		"- **Purpose:** **not stated** (set `jobs.handover.purpose`)\n",
		"- **Source:** acme (creditor, NL (assumed))\n",
		"| acme | creditor | NL (assumed) | yes | none |\n",
		"| us-law | lawyer | US | no | Counsel's privacy desk, privacy@uslaw.example |\n",
		"| us-law | US | standard contractual clauses (art. 46(2)(c)) | SCC 2021/914 module 1, signed 2026-03-01 | handover |\n",
		"- partners.acme: country not stated; NL assumed; set partners.acme.country\n",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("markdown lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestRegisterUsage(t *testing.T) {
	if r := exchanged(t, nil, "register"); r.code != exitUsage || !strings.Contains(r.stderr, "--config is required") {
		t.Errorf("no --config: %+v", r)
	}
	if r := exchanged(t, nil, "register", "--config", "x.yaml", "extra"); r.code != exitUsage || !strings.Contains(r.stderr, `unexpected argument "extra"`) {
		t.Errorf("extra argument: %+v", r)
	}
}

// A partner that receives files without a contact is named, with the key
// to set; one that only sends files, or the agency's own, is not.
func TestRegisterMissingContact(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(strings.NewReader(fmt.Sprintf(`version: 1
state_dir: %[1]s/state
partners:
  acme: {role: creditor, country: NL, local: {root: %[1]s/acme}}
  cases: {role: internal, country: NL, local: {root: %[1]s/cases}}
  jansen: {role: bailiff, country: NL, local: {root: %[1]s/jansen}}
jobs:
  in:
    purpose: Claims in
    schedule: "@daily"
    source: {partner: acme, dir: /outbox}
    destinations: [{partner: cases, dir: /inbox}]
  handover:
    purpose: Handover
    schedule: "@daily"
    source: {partner: cases, dir: /outbox}
    transform: {layout: claim, profile: bailiff}
    destinations: [{partner: jansen, dir: /in}]
`, dir)))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := buildRegister(cfg, "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"jobs.in: files pass unchanged and are not read; the categories of personal data they hold are not known to exchanged",
		"partners.jansen: no contact to notify of a rectification or erasure (art. 19); set partners.jansen.contact",
	}
	if !reflect.DeepEqual(reg.Warnings, want) {
		t.Errorf("warnings\n got %q\nwant %q", reg.Warnings, want)
	}
}
