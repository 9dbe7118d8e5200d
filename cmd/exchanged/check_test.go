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
	// Excel's "CSV (Macintosh)": bare CR line ends. Every row is read and accounted for, and no
	// cell of a data row is printed (before, the whole file was one header line, and its names,
	// streets and amounts were printed as "ignored columns").
	mac := filepath.Join(dir, "mac.csv")
	writeFile(t, mac, []byte("Factuur;Klant;Naam;Straat;IBAN;Bedrag\r"+
		"F-1;K-1;Ans Vos;Dorpsstraat 1;NL91ABNA0417164300;1.234,56\r"+
		"F-2;K-2;Bram de Wit;Kerkweg 3;NL00BANK0000000000;99,95\r"+
		";;;;;1.334,51\r"))
	r = exchanged(t, nil, "check", "--config", cfg, "--layout", "acme-claims", mac)
	if r.code != exitFailed || !strings.Contains(r.stdout, "3 rows, 1 accepted, 2 rejected") ||
		!strings.Contains(r.stdout, "lines: 4 = 1 header + 3 rows + 0 continued + 0 blank") ||
		!strings.Contains(r.stdout, "ignored columns: Straat") || !strings.Contains(r.stdout, "4,,,total_row") {
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
