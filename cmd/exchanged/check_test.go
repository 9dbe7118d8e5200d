package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
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
	if r := exchanged(t, nil, "check", "--config", cfg, "--layout", "nope", good); r.code != exitUsage {
		t.Fatalf("unknown layout: %+v", r)
	}
}
