package transform

import (
	"bufio"
	"strings"
	"testing"
)

func TestBuiltinLayout(t *testing.T) {
	for _, r := range Records {
		l := builtin(t, r)
		if err := l.Validate(); err != nil || l.Delimiter != ',' || l.Decimal != '.' || l.DateFormat != "2006-01-02" {
			t.Errorf("BuiltinLayout(%s) = %+v, %v", r, l, err)
		}
	}
	if _, err := BuiltinLayout("invoice"); err == nil {
		t.Error("BuiltinLayout(invoice) did not fail")
	}
}

func TestLayoutValidate(t *testing.T) {
	if err := acme.Validate(); err != nil {
		t.Fatalf("acme: %v", err)
	}
	cases := []struct {
		name   string
		modify func(*Layout)
		want   string
	}{
		{"record", func(l *Layout) { l.Record = "claims" }, `unknown record "claims"`},
		{"delimiter", func(l *Layout) { l.Delimiter = ':' }, `delimiter ':'`},
		{"charset", func(l *Layout) { l.Charset = "iso-8859-15" }, `charset "iso-8859-15"`},
		{"decimal", func(l *Layout) { l.Decimal = ';' }, `decimal ';'`},
		{"date", func(l *Layout) { l.DateFormat = "02-01" }, `date format "02-01"`},
		{"column field", func(l *Layout) { l.Columns = map[string]string{"Bedrag": "amount"} }, `Bedrag: "amount" is not a field of record claim`},
		{"column of another record", func(l *Layout) { l.Columns = map[string]string{"Status": "status_code"} }, `"status_code" is not a field of record claim`},
		{"same header twice", func(l *Layout) { l.Columns = map[string]string{"Naam": "name", "naam ": "name"} }, `are the same header`},
		{"empty header", func(l *Layout) { l.Columns = map[string]string{" ": "name"} }, "empty header name"},
		{"bsn column", func(l *Layout) { l.Columns = map[string]string{"BSN": "debtor_ref"} }, "BSN: a BSN column is never read"},
		{"required", func(l *Layout) { l.Required = []string{"bsn"} }, `required: "bsn" is not a field`},
	}
	for _, tc := range cases {
		l := acme
		tc.modify(&l)
		err := l.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "layout acme") {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDetectDelimiter(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   rune
	}{
		{"a,b,c\n1;2;3;4;5\n", ','},
		{"a;b;c\r\n", ';'},
		{"a\tb\tc", '\t'},
		{"a|b|c\n", '|'},
		{`"a;b","c;d",e` + "\n", ','},
		{"single\n", ','},
		{"", ','},
		{"Naam;Adres, woonplaats;Bedrag\n", ';'},
	} {
		if got := detectDelimiter(bufio.NewReader(strings.NewReader(tc.header))); got != tc.want {
			t.Errorf("detectDelimiter(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func TestIsBSNHeader(t *testing.T) {
	for _, h := range []string{"bsn", "BSN", "BSN-nummer", "bsn_nummer", "BSNnummer", "Debiteur BSN", "debiteur_bsn",
		"Burgerservicenummer", "Burger Service Nummer", "burgerservicenr", "BurgerServiceNr.", "sofinummer", "SoFi-nummer",
		"sofi nr", "Sofinr", "Citizen Service Number", "klant.bsn", "BSN/Sofi", "B.S.N.", "B S N nummer", "klantbsn", "BSNxyz"} {
		if !isBSNHeader(h) {
			t.Errorf("isBSNHeader(%q) = false", h)
		}
	}
	// Words that merely contain the letters pass. A header that starts or ends with them
	// (BSNxyz, klantbsn) is refused on purpose: a false alarm costs a renamed column, a miss a BSN.
	for _, h := range []string{"jobsnumber", "Absnummer", "name", "Klantnummer", "servicenummer", "subsidie", "debsnr",
		"B. Snel", "Jacobs N.", "A. B. Snoek"} {
		if isBSNHeader(h) {
			t.Errorf("isBSNHeader(%q) = true", h)
		}
	}
}
