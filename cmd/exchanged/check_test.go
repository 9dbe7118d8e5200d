package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/transform"
)

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exchanged.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf(`version: 1
state_dir: %s
partners: {cases: {role: internal, local: {root: %s}}}
jobs: {}
layouts:
  acme-claims:
    record: claim
    delimiter: ";"
    decimal: ","
    date: "02-01-2006"
    columns: {Factuur: creditor_ref, Klant: debtor_ref, Naam: name, IBAN: iban, Bedrag: principal}
`, dir, dir)))
	good := filepath.Join(dir, "good.csv")
	writeFile(t, good, []byte("Factuur;Klant;Naam;IBAN;Bedrag\r\nF-1;K-1;Ans Vos;NL91ABNA0417164300;1.234,56\r\n"))
	r := exchanged(t, nil, "check", "--config", cfg, "--layout", "acme-claims", good)
	if r.code != 0 {
		t.Fatalf("good file: %+v", r)
	}
	bad := filepath.Join(dir, "bad.csv")
	writeFile(t, bad, []byte("Factuur;Klant;Naam;IBAN;Bedrag\r\nF-1;K-1;Ans Vos;NL00BANK0000000000;-5,00\r\n"))
	r = exchanged(t, nil, "check", "--config", cfg, "--layout", "acme-claims", bad)
	if r.code != exitFailed || !strings.Contains(r.stdout, "2,F-1,IBAN,invalid_iban") || !strings.Contains(r.stdout, "2,F-1,Bedrag,negative_amount") {
		t.Fatalf("bad rows: %+v", r)
	}
	if strings.Contains(r.stdout+r.stderr, "Ans Vos") || strings.Contains(r.stdout+r.stderr, "NL00BANK") {
		t.Fatalf("check printed personal data: %+v", r)
	}
	bsn := filepath.Join(dir, "bsn.csv")
	writeFile(t, bsn, []byte("Factuur;Klant;Naam;Burgerservicenummer;Bedrag\r\nF-1;K-1;Ans Vos;111222333;5,00\r\n"))
	r = exchanged(t, nil, "check", "--config", cfg, "--layout", "acme-claims", bsn)
	if r.code != exitFailed || !strings.Contains(r.stderr, "file rejected") || strings.Contains(r.stdout+r.stderr, "111222333") {
		t.Fatalf("BSN file: %+v", r)
	}
	// Excel's "CSV (Macintosh)": bare CR line ends. Every row is read and accounted for, and no
	// cell of a data row is printed (before, the whole file was one header line, and its names,
	// streets and amounts were printed as "ignored columns").
	mac := filepath.Join(dir, "mac.csv")
	writeFile(t, mac, []byte("Factuur;Klant;Naam;Straat;IBAN;Bedrag\r"+
		"F-1;K-1;Ans Vos;Dorpsstraat 1;NL91ABNA0417164300;1.234,56\r"+
		"F-2;K-2;Bram de Wit;Kerkweg 3;NL00BANK0000000000;99,95\r"+
		";;;;;1.334,51\r"))
	r = exchanged(t, nil, "check", "--config", cfg, "--layout", "acme-claims", mac)
	if r.code != exitFailed || !strings.Contains(r.stderr, "3 rows, 1 accepted, 2 rejected") ||
		!strings.Contains(r.stderr, "lines: 4 = 1 header + 3 rows + 0 continued + 0 blank") ||
		!strings.Contains(r.stderr, "ignored columns: Straat") || !strings.Contains(r.stdout, "4,,,total_row") {
		t.Fatalf("mac file: %+v", r)
	}
	for _, cell := range []string{"Ans Vos", "Dorpsstraat", "NL91ABNA", "1.234,56", "Bram de Wit", "Kerkweg", "NL00BANK", "99,95", "1.334,51", "K-1", "K-2"} {
		if strings.Contains(r.stdout+r.stderr, cell) {
			t.Errorf("check printed the cell %q: %+v", cell, r)
		}
	}
	if r := exchanged(t, nil, "check", "--config", cfg, "--layout", "nope", good); r.code != exitUsage {
		t.Fatalf("unknown layout: %+v", r)
	}
}

// check reads only the config's layouts: a config whose partner's private
// key, known_hosts file and password are nowhere on this machine (an
// analyst's, without /run/secrets) checks a creditor's file all the same,
// and stdout holds exactly the reject report, the summary going to stderr,
// so that `check ... > report.csv` is the report a creditor would get.
func TestCheckNeedsNoSecrets(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exchanged.yaml")
	writeFile(t, cfg, []byte(`version: 1
state_dir: /nonexistent/state
partners:
  acme:
    role: creditor
    sftp: {host: sftp.acme.example, user: incasso, private_key: "file:/nonexistent/id_ed25519",
           password: "env:EXCHANGED_TEST_UNSET_PASSWORD", known_hosts: /nonexistent/known_hosts}
jobs: {}
layouts:
  acme-claims:
    record: claim
    creditor: acme
    delimiter: ";"
    decimal: ","
    date: "02-01-2006"
    columns: {Factuur: creditor_ref, Klant: debtor_ref, Naam: name, IBAN: iban, Bedrag: principal}
`))
	if r := exchanged(t, nil, "config", "validate", "--config", cfg); r.code != exitUsage ||
		!strings.Contains(r.stderr, "private_key") || !strings.Contains(r.stderr, "known_hosts") {
		t.Fatalf("config validate must still refuse the missing secrets: %+v", r)
	}
	csv := []byte("Factuur;Klant;Naam;IBAN;Bedrag\r\nF-1;K-1;Ans Vos;NL91ABNA0417164300;1.234,56\r\n" +
		"F-2;K-2;Bram de Wit;NL00BANK0000000000;-5,00\r\n")
	in := filepath.Join(dir, "claims.csv")
	writeFile(t, in, csv)
	r := exchanged(t, nil, "check", "--config", cfg, "--layout", "acme-claims", in)
	if r.code != exitFailed || !strings.Contains(r.stderr, "2 rows, 1 accepted, 1 rejected") ||
		!strings.Contains(r.stderr, "1 of 2 row(s) rejected") {
		t.Fatalf("check without secrets: %+v", r)
	}
	// The report the transform writes for this file and layout, byte for byte.
	c, err := config.LoadLayouts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	layout, err := exchange.LayoutFor(c, "acme-claims")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := transform.Process(context.Background(), bytes.NewReader(csv), layout, nil, &want); err != nil {
		t.Fatal(err)
	}
	if r.stdout != want.String() || !strings.Contains(r.stdout, "3,F-2,IBAN,invalid_iban") {
		t.Fatalf("stdout is not exactly the reject report:\n got %q\nwant %q", r.stdout, want.String())
	}
	for _, s := range []string{"layout acme-claims", "accepted", "exchanged:"} {
		if strings.Contains(r.stdout, s) {
			t.Errorf("stdout holds summary text %q: %q", s, r.stdout)
		}
	}
	// A built-in layout needs no config at all; a bad layout in the config is still refused.
	if r := exchanged(t, nil, "check", "--layout", "claim", in); r.code == exitUsage || !strings.Contains(r.stderr, "layout claim") {
		t.Fatalf("built-in layout without --config: %+v", r)
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, []byte("version: 1\nlayouts: {x: {record: invoice, columns: {A: name}}}\n"))
	if r := exchanged(t, nil, "check", "--config", bad, "--layout", "x", in); r.code != exitUsage ||
		!strings.Contains(r.stderr, `layouts.x.record: must be claim, payment or status, not "invoice"`) {
		t.Fatalf("bad layout: %+v", r)
	}
}
