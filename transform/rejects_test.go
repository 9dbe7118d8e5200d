package transform

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// debiteuren is the layout of a creditor's Dutch Excel export of open invoices: ';', decimal
// comma, dd-mm-yyyy, and its own headers; its principal comes as Bedrag or as Openstaand.
var debiteuren = Layout{
	Name: "debiteuren", Record: "claim", Delimiter: ';', Charset: "utf-8", Decimal: ',', DateFormat: "02-01-2006",
	Columns: map[string]string{
		"Factuurnummer": "creditor_ref", "Klantnummer": "debtor_ref", "Naam": "name",
		"Factuurdatum": "invoice_date", "Bedrag": "principal", "Openstaand": "principal",
	},
}

// The explanations, as the report writes them (CSV-quoted where they hold a comma or quote).
const (
	expectDate    = `"verwacht een datum als dd-mm-jjjj (bijvoorbeeld 31-12-2025), jaar 1900 tot 2199","expected a date as dd-mm-yyyy (for example 31-12-2025), year 1900 to 2199"`
	expectAmount  = `"verwacht een bedrag als 1250,50 of 1.250,50: decimaalteken ',', ten hoogste twee decimalen","expected an amount such as 1250,50 or 1.250,50: decimal separator ',', at most two decimals"`
	expectTotal   = `verwacht geen totaalregel: laat totalen weg; deze regel is niet ingelezen,expected no total row: leave totals out; this row was not read`
	explainHeader = "line,reference,column,reason,verwacht,expected\n"
)

// TestRejectReports runs Dutch Excel exports as creditors send them through Process and checks
// the whole reject report, explanations included, and the line accounting.
func TestRejectReports(t *testing.T) {
	inHeader := debiteuren
	inHeader.Delimiter = ','
	inHeader.Columns = map[string]string{"Factuurnummer": "creditor_ref", "Klantnummer": "debtor_ref", "Naam": "name",
		"Factuurdatum": "invoice_date", "Bedrag (€, incl. btw)": "principal"}
	wrongDelimiter := func(name, file string, l Layout, expect string) processCase {
		return processCase{name: name, file: file, layout: l, lines: true, explained: true,
			outs:    []outSpec{{profile: "internal"}},
			rejects: explainHeader + "1,,,wrong_delimiter," + expect + "\n",
			stats:   Stats{Reasons: map[string]int{"wrong_delimiter": 1}},
			fileErr: ReasonWrongDelimiter}
	}
	threeRows := "case_ref,creditor_ref,debtor_ref\n,F-2025-001,K-100\n,F-2025-002,K-101\n,F-2025-003,K-102\n"
	cases := []processCase{
		// Excel's "CSV (comma delimited)" from an English Windows: one reason for the file, not
		// one missing_column for every column.
		wrongDelimiter("comma for semicolon", "rejects_comma.csv", debiteuren,
			`"verwacht scheidingsteken ';', gevonden ','","expected delimiter ';', found ','"`),
		// Excel's "Text (tab delimited)".
		wrongDelimiter("tab for semicolon", "rejects_tab.txt", debiteuren,
			`"verwacht scheidingsteken ';', gevonden tab","expected delimiter ';', found tab"`),
		// Excel's "Formatted text (space delimited)": the header collapses into one column.
		wrongDelimiter("no delimiter at all", "rejects_spaces.prn", debiteuren,
			`"verwacht scheidingsteken ';', maar de kopregel heeft geen scheidingsteken","expected delimiter ';', but the header line has none"`),
		// A ';' file for a ',' layout whose header holds a comma itself: the line has the
		// layout's delimiter, but splits into the layout's columns only at ';'.
		wrongDelimiter("semicolon for comma, comma in a header", "rejects_comma_in_header.csv", inHeader,
			`"verwacht scheidingsteken ',', gevonden ';'","expected delimiter ',', found ';'"`),
		{
			// A BSN column in a file of the wrong delimiter is still a BSN column: a security
			// event, not only a wrong_delimiter.
			name: "bsn column in a comma file", layout: debiteuren, lines: true, explained: true,
			input: []byte("Factuurnummer,Klantnummer,Naam,\"BSN-nummer\",Bedrag\r\nF-1,K-1,Jan Jansen,111222333,\"12,50\"\r\n"),
			outs:  []outSpec{{profile: "internal"}},
			rejects: explainHeader + "1,,BSN-nummer,bsn_column,verwacht geen kolom met burgerservicenummers (BSN): het hele bestand is geweigerd," +
				"expected no column of citizen service numbers (BSN): the whole file is rejected\n",
			stats:   Stats{Reasons: map[string]int{"bsn_column": 1}},
			fileErr: ReasonBSNColumn, bsn: true,
		},
		{
			// A file of nothing but Excel's empty rows has no header line.
			name: "only empty excel rows", layout: debiteuren, lines: true, explained: true,
			input:   []byte(";;;;\r\n;;;;\r\n ; ;;;\r\n"),
			outs:    []outSpec{{profile: "internal"}},
			rejects: explainHeader + ",,,empty_file,verwacht een kopregel met kolomnamen en rijen daaronder,\"expected a header line of column names, and rows below it\"\n",
			stats:   Stats{Reasons: map[string]int{"empty_file": 1}},
			fileErr: ReasonEmptyFile,
		},
		{
			// Excel's ";;;;" rows, once formatted and now empty, above the header, between rows
			// (with spaces and a no-break space) and at the end: blank lines, not rejects.
			name: "empty excel rows", file: "rejects_blank_rows.csv", layout: debiteuren, lines: true, explained: true,
			outs:     []outSpec{{profile: "creditor-payment", want: threeRows}},
			rejects:  explainHeader,
			stats:    Stats{Lines: 11, Rows: 3, Written: 3, Blank: 7},
			subjects: []string{"K-100", "K-101", "K-102"},
		},
		{
			// A trailing total with its label in the date column: one total_row, not a
			// missing_required for each empty cell and an invalid_date for the label.
			name: "total row", file: "rejects_total_row.csv", layout: debiteuren, lines: true, explained: true,
			outs:     []outSpec{{profile: "creditor-payment", want: threeRows}},
			rejects:  explainHeader + "5,,,total_row," + expectTotal + "\n",
			stats:    Stats{Lines: 6, Rows: 4, Written: 3, Rejected: 1, Blank: 1, Reasons: map[string]int{"total_row": 1}},
			subjects: []string{"K-100", "K-101", "K-102"},
		},
		{
			// "Subtotaal januari" and "Totaal generaal" in the reference column: one total_row each.
			name: "subtotals", file: "rejects_subtotals.csv", layout: debiteuren, lines: true, explained: true,
			outs:    []outSpec{{profile: "creditor-payment", want: threeRows}},
			rejects: explainHeader + "4,,,total_row," + expectTotal + "\n" + "6,,,total_row," + expectTotal + "\n",
			stats: Stats{Lines: 6, Rows: 5, Written: 3, Rejected: 2,
				Reasons: map[string]int{"total_row": 2}},
			subjects: []string{"K-100", "K-101", "K-102"},
		},
		{
			// Missing columns are named by the creditor's headers, as the layout maps them.
			name: "missing columns", file: "rejects_missing_column.csv", layout: debiteuren, lines: true, explained: true,
			outs: []outSpec{{profile: "internal"}},
			rejects: explainHeader +
				`1,,Naam,missing_column,"verwacht een kolom met de kop ""Naam""","expected a column headed ""Naam"""` + "\n" +
				`1,,Bedrag,missing_column,"verwacht een kolom met de kop ""Bedrag"" of ""Openstaand""","expected a column headed ""Bedrag"" or ""Openstaand"""` + "\n",
			stats:   Stats{Reasons: map[string]int{"missing_column": 2}},
			fileErr: ReasonMissingColumn,
		},
		{
			// ISO and impossible dates, a day without its leading zero, a euro sign, English
			// notation, a short postcode, an empty name, a negative amount, a repeated invoice
			// number and a row one cell short.
			name: "invalid values", file: "rejects_invalid_values.csv", layout: debiteuren, lines: true, explained: true,
			outs: []outSpec{{profile: "creditor-payment", want: "case_ref,creditor_ref,debtor_ref\n,F-2025-001,K-100\n"}},
			rejects: explainHeader +
				"3,F-2025-002,Factuurdatum,invalid_date," + expectDate + "\n" +
				"4,F-2025-003,Factuurdatum,invalid_date," + expectDate + "\n" +
				"4,F-2025-003,Bedrag,invalid_amount," + expectAmount + "\n" +
				"5,F-2025-004,Naam,missing_required,verwacht een waarde: dit veld is verplicht,expected a value: this field is required\n" +
				"5,F-2025-004,Postcode,invalid_postcode,verwacht een Nederlandse postcode als 1000 AA,expected a Dutch postcode such as 1000 AA\n" +
				"5,F-2025-004,Factuurdatum,invalid_date," + expectDate + "\n" +
				"5,F-2025-004,Bedrag,invalid_amount," + expectAmount + "\n" +
				"6,F-2025-005,Bedrag,negative_amount,verwacht een bedrag van 0 of meer,expected an amount of 0 or more\n" +
				"7,F-2025-001,Factuurnummer,duplicate_reference,verwacht elke referentie één keer per bestand; deze kwam eerder voor,expected each reference once in a file; this one came before\n" +
				`8,,,ragged_row,"verwacht 6 cellen, net als de kopregel","expected 6 cells, as in the header line"` + "\n",
			stats: Stats{Lines: 8, Rows: 7, Written: 1, Rejected: 6, Reasons: map[string]int{
				"invalid_date": 3, "invalid_amount": 2, "missing_required": 1, "invalid_postcode": 1,
				"negative_amount": 1, "duplicate_reference": 1, "ragged_row": 1}},
			subjects: []string{"K-100"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runCase(t, tc) })
	}
}

// TestReasonsExplained: every reason code the package declares has a Dutch and an English
// explanation, and is documented in the package documentation.
func TestReasonsExplained(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	x := newExplainer(debiteuren, records["claim"])
	var n int
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || !strings.HasPrefix(vs.Names[0].Name, "Reason") {
			return true
		}
		code, err := strconv.Unquote(vs.Values[0].(*ast.BasicLit).Value)
		if err != nil {
			t.Fatal(err)
		}
		n++
		nl, en := x.explain(code, "", kindRef)
		if !strings.HasPrefix(nl, "verwacht ") || !strings.HasPrefix(en, "expected ") {
			t.Errorf("%s: explanation %q / %q, want verwacht ... / expected ...", code, nl, en)
		}
		if !strings.Contains(string(doc), "//\t"+code+" ") {
			t.Errorf("%s is not in the package documentation's reason codes", code)
		}
		return true
	})
	if n < 30 {
		t.Errorf("found %d reason codes in errors.go, want them all", n)
	}
}

func TestDatePattern(t *testing.T) {
	for _, tc := range []struct{ layout, nl, en string }{
		{"02-01-2006", "dd-mm-jjjj", "dd-mm-yyyy"},
		{"2006-01-02", "jjjj-mm-dd", "yyyy-mm-dd"},
		{"02/01/2006", "dd/mm/jjjj", "dd/mm/yyyy"},
		{"20060102", "jjjjmmdd", "yyyymmdd"},
		{"2-1-06", "d-m-jj", "d-m-yy"},
		{"2 Jan 2006", "d mnd jjjj", "d mon yyyy"},
		{"02.01.2006", "dd.mm.jjjj", "dd.mm.yyyy"},
	} {
		if nl, en := datePattern(tc.layout); nl != tc.nl || en != tc.en {
			t.Errorf("datePattern(%q) = %q, %q; want %q, %q", tc.layout, nl, en, tc.nl, tc.en)
		}
	}
}

// TestTotalLabel: a total word is a word of its own at the start of a label.
func TestTotalLabel(t *testing.T) {
	for s, want := range map[string]bool{
		"Totaal": true, "totaal:": true, "Totaal bedrag": true, "Som van Bedrag": true, "Subtotaal januari": true,
		"Eindtotaal 2025": true, "Grand total": true,
		"Totaalbedrag": false, "Sommelsdijk": false, "Summit BV": false, "Tot ziens": false, "F-2025-001": false,
	} {
		if got := totalLabel(s); got != want {
			t.Errorf("totalLabel(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestTotalRowRules: a row is read as a spreadsheet's total only when it holds nothing but amounts
// and a total label; the security checks come first, so a BSN in a row that looks like a total
// still rejects the whole file.
func TestTotalRowRules(t *testing.T) {
	claim := Layout{Name: "claim", Record: "claim", Delimiter: ',', Charset: "utf-8"}
	header := "name,creditor_ref,debtor_ref,birth_date,btw_id,principal\n"
	company := "Bedrijf BV,R-1,K-1,,NL820646660B01,1.00\n"
	out := []outSpec{{profile: "creditor-payment", want: "case_ref,creditor_ref,debtor_ref\n,R-1,K-1\n"}}
	bsnInBTW := func(name, row string) processCase {
		return processCase{name: name, layout: claim, input: []byte(header + company + row), outs: out,
			rejects: "line,reference,column,reason\n3,,btw_id,bsn_in_btw_id\n",
			stats:   Stats{Rows: 2, Written: 1, Reasons: map[string]int{"bsn_in_btw_id": 1}},
			fileErr: ReasonBSNInBTWID, bsn: true}
	}
	// rows: the company's row, then rows rejected with the given report lines; note: the file has
	// a first column "note" that no field takes.
	rows := func(name string, note bool, rest, rejects string, reasons map[string]int) processCase {
		in := header + company + rest
		st := Stats{Rows: 1 + strings.Count(rest, "\n"), Written: 1, Rejected: strings.Count(rest, "\n"), Reasons: reasons}
		if note {
			in, st.Ignored = "note,"+header+","+company+rest, []string{"note"}
		}
		return processCase{name: name, layout: claim, input: []byte(in), outs: out, stats: st,
			rejects: "line,reference,column,reason\n" + rejects, subjects: []string{"K-1"}}
	}
	cases := []processCase{
		// A legacy btw number with a birth date is a BSN: the whole file is rejected, whether
		// the name is a person's or a total label's.
		bsnInBTW("bsn in btw, labelled total name", "Totaal Klussen,,K-2,1970-01-01,NL111222333B01,2.00\n"),
		bsnInBTW("bsn in btw, person", "Jan Zzp,,K-2,1970-01-01,NL111222333B01,2.00\n"),
		// A total label in the reference and a birth date that is no date: still a BSN.
		bsnInBTW("bsn in btw, total reference, invalid birth date", "Totaal,Totaal,,31-02-1970,NL111222333B01,2.00\n"),
		// A debtor whose name starts with a total word, with an amount that is no amount: its
		// own reasons, not total_row.
		rows("debtor named Total", false, "Total Energies BV,R-2,K-2,,,1.2.3\n",
			"3,R-2,principal,invalid_amount\n", map[string]int{"invalid_amount": 1}),
		// "Som ..." in the name with an empty reference: a debtor row missing its reference.
		rows("debtor named Som", false, "Som Installatie,,K-2,,,2.00\n",
			"3,,creditor_ref,missing_required\n", map[string]int{"missing_required": 1}),
		// A debtor reference makes a row a debtor's, whatever its label.
		rows("total label with a debtor reference", false, ",Totaal bedrag,K-2,,,2.00\n",
			"3,Totaal bedrag,name,missing_required\n", map[string]int{"missing_required": 1}),
		// A label in a column no field takes, over a debtor's name: not a total either.
		rows("label in an ignored column", true, "Totaal,Piet Bakker,,,,,2.00\n",
			"3,,creditor_ref,missing_required\n3,,debtor_ref,missing_required\n", map[string]int{"missing_required": 2}),
		// Still totals: a longer label in the reference, or in a column no field takes, and amounts.
		rows("labelled totals", true, ",,Totaal bedrag,,,,3.00\nSom van bedrag,,,,,,3.00\n",
			"3,,,total_row\n4,,,total_row\n", map[string]int{"total_row": 2}),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runCase(t, tc) })
	}
}

// TestHeaderLineReasons: wrong_delimiter only for a header line that another delimiter (or, in a
// line without any, white space) splits into the layout's columns; a line before the header is
// blank when it holds nothing but white space and the delimiter in use, as firstLine and blankRow
// agree.
func TestHeaderLineReasons(t *testing.T) {
	body := "Factuurnummer;Klantnummer;Naam;Bedrag\nF-1;K-1;Jan Jansen;1,00\n"
	missing := func(name, title string) processCase {
		return processCase{name: name, layout: debiteuren, lines: true, explained: true,
			input: []byte(title + body), outs: []outSpec{{profile: "internal"}},
			rejects: explainHeader +
				`1,,Factuurnummer,missing_column,"verwacht een kolom met de kop ""Factuurnummer""","expected a column headed ""Factuurnummer"""` + "\n" +
				`1,,Klantnummer,missing_column,"verwacht een kolom met de kop ""Klantnummer""","expected a column headed ""Klantnummer"""` + "\n" +
				`1,,Naam,missing_column,"verwacht een kolom met de kop ""Naam""","expected a column headed ""Naam"""` + "\n" +
				`1,,Bedrag,missing_column,"verwacht een kolom met de kop ""Bedrag"" of ""Openstaand""","expected a column headed ""Bedrag"" or ""Openstaand"""` + "\n",
			stats:   Stats{Reasons: map[string]int{"missing_column": 4}},
			fileErr: ReasonMissingColumn}
	}
	comma := Layout{Name: "comma", Record: "claim", Delimiter: ',', Charset: "utf-8"}
	detect := comma
	detect.Delimiter = 0
	commaFile := "creditor_ref,debtor_ref,name,principal\nF-1,K-1,Jan Jansen,1.00\n"
	// accepted: two blank lines above the header, then the header and one row.
	accepted := func(name string, l Layout, blank string) processCase {
		return processCase{name: name, layout: l, lines: true, input: []byte(blank + commaFile),
			outs:    []outSpec{{profile: "creditor-payment", want: "case_ref,creditor_ref,debtor_ref\n,F-1,K-1\n"}},
			rejects: "line,reference,column,reason\n", stats: Stats{Lines: 4, Rows: 1, Written: 1, Blank: 2},
			subjects: []string{"K-1"}}
	}
	cases := []processCase{
		// A title line above the header, with a comma in it: the comma does not split it into
		// the layout's columns, so it is no wrong_delimiter; the title is read as the header,
		// which lacks the columns.
		missing("title line with a comma", "Export debiteuren, januari\n"),
		// Nor is a title line without any delimiter.
		missing("title line without a delimiter", "Export debiteuren januari\n"),
		{
			// Excel's ";;;" above a ',' layout's header is not blank for that layout (firstLine
			// and blankRow agree): it is the header line, and no other delimiter splits it into
			// columns.
			name: "semicolons above a comma header", layout: comma, lines: true,
			input: []byte(";;;\n" + commaFile), outs: []outSpec{{profile: "internal"}},
			rejects: "line,reference,column,reason\n1,,creditor_ref,missing_column\n1,,debtor_ref,missing_column\n" +
				"1,,name,missing_column\n1,,principal,missing_column\n",
			stats:   Stats{Reasons: map[string]int{"missing_column": 4}},
			fileErr: ReasonMissingColumn,
		},
		// A layout whose delimiter is detected skips a line of any delimiters, as the detection
		// does, and finds ',' in the header below.
		accepted("semicolons above a detected header", detect, ";;;\n , ;\n"),
		// The layout's own blank rows, with a no-break space, above the header stay blank.
		accepted("commas above a comma header", comma, ",,,\n,\u00a0,\n"),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runCase(t, tc) })
	}
}
