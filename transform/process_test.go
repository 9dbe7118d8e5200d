package transform

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// acme is a Dutch Excel layout: ';', decimal comma, dd-mm-yyyy and the creditor's own headers.
// Postcode and IBAN need no mapping: header names match canonical fields whatever their case.
var acme = Layout{
	Name: "acme", Record: "claim", Delimiter: ';', Charset: "utf-8", Decimal: ',', DateFormat: "02-01-2006",
	Columns: map[string]string{
		"Vordering": "creditor_ref", "Klantnummer": "debtor_ref", "Naam": "name", "Straat": "street",
		"Huisnr": "house_number", "Plaats": "city", "Geboortedatum": "birth_date", "E-mail": "email",
		"Telefoon": "phone", "Factuurnummer": "invoice_number", "Factuurdatum": "invoice_date",
		"Bedrag": "principal", "Rente": "interest", "Kosten": "costs",
	},
}

func builtin(t testing.TB, record string) Layout {
	t.Helper()
	l, err := BuiltinLayout(record)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func profile(t testing.TB, name string) Profile {
	t.Helper()
	p, err := BuiltinProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// excelFormat is how a partner with Dutch Excel wants its files.
var excelFormat = Format{Delimiter: ';', Decimal: ',', DateFormat: "02-01-2006"}

type outSpec struct {
	profile string
	format  Format
	want    string
}

type processCase struct {
	name     string
	file     string // in testdata/
	input    []byte // when file is ""
	layout   Layout
	outs     []outSpec
	rejects  string // the exact reject report
	stats    Stats
	fileErr  string // reason of the *FileError, "" for none
	bsn      bool   // the error must match ErrBSN
	subjects []string
	lines    bool // compare stats.Lines, Blank, Continued and PossibleBSN too
	// explained: rejects is the whole report, with the columns verwacht and expected;
	// otherwise only its first four columns are compared (see reasonsOnly).
	explained bool
}

func runCase(t *testing.T, tc processCase) {
	t.Helper()
	in := tc.input
	if tc.file != "" {
		var err error
		if in, err = os.ReadFile(filepath.Join("testdata", tc.file)); err != nil {
			t.Fatal(err)
		}
	}
	bufs := make([]*bytes.Buffer, len(tc.outs))
	var outs []Output
	var subjects []string
	for i, o := range tc.outs {
		bufs[i] = new(bytes.Buffer)
		out := Output{W: bufs[i], Profile: profile(t, o.profile), Format: o.format}
		if i == 0 {
			out.Subject = func(creditor, ref, _ string) {
				if creditor != "" {
					ref = creditor + "/" + ref
				}
				subjects = append(subjects, ref)
			}
		}
		outs = append(outs, out)
	}
	var rej bytes.Buffer
	st, err := Process(context.Background(), bytes.NewReader(in), tc.layout, outs, &rej)
	if tc.fileErr == "" {
		if err != nil {
			t.Fatalf("Process: %v", err)
		}
	} else {
		var fe *FileError
		if !errors.As(err, &fe) || fe.Reason != tc.fileErr || !errors.Is(err, ErrRejected) {
			t.Fatalf("Process error = %v, want a file rejected for %s", err, tc.fileErr)
		}
		if errors.Is(err, ErrBSN) != tc.bsn {
			t.Errorf("errors.Is(err, ErrBSN) = %v, want %v", !tc.bsn, tc.bsn)
		}
	}
	got := rej.String()
	if !tc.explained {
		got = reasonsOnly(t, got)
	}
	if got != tc.rejects {
		t.Errorf("reject report:\n%s\nwant:\n%s", got, tc.rejects)
	}
	if tc.fileErr == "" {
		for i, o := range tc.outs {
			if got := bufs[i].String(); got != o.want {
				t.Errorf("output %s:\n%s\nwant:\n%s", o.profile, got, o.want)
			}
		}
		if strings.Join(subjects, " ") != strings.Join(tc.subjects, " ") {
			t.Errorf("subjects = %q, want %q", subjects, tc.subjects)
		}
	}
	if tc.stats.Reasons == nil {
		tc.stats.Reasons = map[string]int{}
	}
	if st.Rows != tc.stats.Rows || st.Written != tc.stats.Written || st.Rejected != tc.stats.Rejected ||
		!equalCounts(st.Reasons, tc.stats.Reasons) || strings.Join(st.Ignored, "|") != strings.Join(tc.stats.Ignored, "|") {
		t.Errorf("stats = %+v, want %+v", st, tc.stats)
	}
	if tc.lines && (st.Lines != tc.stats.Lines || st.Blank != tc.stats.Blank || st.Continued != tc.stats.Continued ||
		st.PossibleBSN != tc.stats.PossibleBSN) {
		t.Errorf("stats = %+v, want lines %d blank %d continued %d possible_bsn %d", st,
			tc.stats.Lines, tc.stats.Blank, tc.stats.Continued, tc.stats.PossibleBSN)
	}
	checkAccounting(t, in, st, err)
}

// checkAccounting checks the line accounting of a file Process read to its end: its lines,
// counted here apart from Process, are its header, rows, continued and blank lines.
func checkAccounting(t *testing.T, in []byte, st Stats, err error) {
	t.Helper()
	var fe *FileError
	if errors.As(err, &fe) && (fe.Reason == ReasonEmptyFile || st.Lines == 0) {
		return // rejected before its end
	}
	if err == nil && !st.Accounted() {
		t.Errorf("lines do not add up: %d lines, 1 header + %d rows + %d continued + %d blank",
			st.Lines, st.Rows, st.Continued, st.Blank)
	}
	if !bytes.HasPrefix(in, []byte{0xFF, 0xFE}) && !bytes.HasPrefix(in, []byte{0xFE, 0xFF}) {
		if n := physicalLines(in); st.Lines != n {
			t.Errorf("stats count %d lines, the file has %d", st.Lines, n)
		}
	}
}

// physicalLines counts the lines of b: each ends at CR, LF or CRLF, or at the end of b.
func physicalLines(b []byte) int {
	n := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\n':
			n++
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			n++
		}
	}
	if len(b) > 0 && b[len(b)-1] != '\n' && b[len(b)-1] != '\r' {
		n++
	}
	return n
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

const rejectHeader = "line,reference,column,reason\n"

// reasonsOnly returns a reject report (and whatever follows it after a blank line, as Check
// writes) with only the columns line, reference, column and reason: the tests of what is
// rejected leave the explanations to TestRejectReports.
func reasonsOnly(t testing.TB, report string) string {
	t.Helper()
	csvPart, rest, cut := strings.Cut(report, "\n\n")
	recs, err := csv.NewReader(strings.NewReader(csvPart)).ReadAll()
	if err != nil {
		t.Fatalf("reject report: %v\n%s", err, report)
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	for _, r := range recs {
		if len(r) != 6 {
			t.Fatalf("reject report line of %d columns, want 6: %q", len(r), r)
		}
		w.Write(r[:4])
	}
	w.Flush()
	if cut {
		return b.String() + "\n" + rest
	}
	return b.String()
}

func TestProcessFiles(t *testing.T) {
	claim := builtin(t, "claim")
	semicolon := claim
	semicolon.Delimiter, semicolon.Decimal = ';', ','
	detect := claim
	detect.Delimiter = 0
	cp1252 := acme
	cp1252.Delimiter, cp1252.Charset = 0, "windows-1252"

	cases := []processCase{
		{
			name: "canonical", file: "claims_canonical.csv", layout: claim,
			outs: []outSpec{
				{profile: "internal", want: "" +
					"case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,email,phone,iban,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs\n" +
					"C-1,INV-1001,K-1,Jan Jansen,Dorpsstraat,12a,1234 AB,Utrecht,1980-05-17,jan@example.nl,+31612345678,NL91ABNA0417164300,,,F-2025-1,2025-01-15,1234.56,12.30,40.00\n" +
					"C-2,INV-1002,K-2,Bakkerij De Korf BV,Markt,1,3511 AA,Utrecht,,info@korf.example,+31301234567,,12345678,NL000099998B57,F-2025-2,2025-02-01,99.95,,\n"},
				{profile: "bailiff", format: excelFormat, want: "" +
					"case_ref;creditor_ref;debtor_ref;name;street;house_number;postcode;city;birth_date;kvk;btw_id;invoice_number;invoice_date;principal;interest;costs\n" +
					"C-1;INV-1001;K-1;Jan Jansen;Dorpsstraat;12a;1234 AB;Utrecht;17-05-1980;;;F-2025-1;15-01-2025;1234,56;12,30;40,00\n" +
					"C-2;INV-1002;K-2;Bakkerij De Korf BV;Markt;1;3511 AA;Utrecht;;12345678;NL000099998B57;F-2025-2;01-02-2025;99,95;;\n"},
			},
			rejects:  rejectHeader,
			stats:    Stats{Rows: 2, Written: 2},
			subjects: []string{"K-1", "K-2"},
		},
		{
			// Dutch Excel: UTF-8 BOM, ';', CRLF, decimal comma, dd-mm-yyyy, the creditor's headers,
			// a quoted cell holding ';', and a column (Opmerking) no field takes.
			name: "excel bom semicolon", file: "excel_bom_semicolon.csv", layout: acme,
			outs: []outSpec{{profile: "internal", want: "" +
				"case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,email,phone,iban,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs\n" +
				",V-001,K-100,Jan Jansen,Dorpsstraat,12a,1234 AB,Utrecht,1980-05-17,jan@example.nl,+31612345678,NL91ABNA0417164300,,,F-1,2025-01-15,1234.56,12.30,40.00\n" +
				",V-002,K-101,Vries; P. de,Kerkweg,3,9711 AA,Groningen,1975-02-01,,,,,,F-2,2025-02-01,99.95,0.00,0.00\n"}},
			rejects: rejectHeader +
				"4,V-003,Postcode,invalid_postcode\n" +
				"4,V-003,Geboortedatum,invalid_date\n" +
				"4,V-003,IBAN,invalid_iban\n" +
				"4,V-003,Bedrag,invalid_amount\n",
			stats: Stats{Rows: 3, Written: 2, Rejected: 1, Ignored: []string{"Opmerking"},
				Reasons: map[string]int{"invalid_postcode": 1, "invalid_date": 1, "invalid_iban": 1, "invalid_amount": 1}},
			subjects: []string{"K-100", "K-101"},
		},
		{
			// Windows-1252 in, delimiter detected; written once as UTF-8 and once as windows-1252.
			name: "excel windows-1252", file: "excel_windows1252.csv", layout: cp1252,
			outs: []outSpec{
				{profile: "creditor-status", want: "" +
					"case_ref,creditor_ref,debtor_ref,principal,interest,costs\n" +
					",V-010,K-110,1000.00,,\n" +
					",V-011,K-111,0.01,,\n"},
				{profile: "lawyer", format: Format{Delimiter: ';', Charset: "windows-1252", Decimal: ','}, want: "" +
					"case_ref;creditor_ref;debtor_ref;name;street;house_number;postcode;city;birth_date;kvk;btw_id;invoice_number;invoice_date;principal;interest;costs\n" +
					";V-010;K-110;J\xfcrgen M\xfcller;;;;Den Haag;;;;;;1000,00;;\n" +
					";V-011;K-111;Caf\xe9 \x92t Hoekje;;;;\xc9lburg;;;;;;0,01;;\n"},
				{profile: "internal", format: Format{Charset: "utf-8-bom", Header: map[string]string{"name": "Naam", "city": "Plaats"}}, want: "\uFEFF" +
					"case_ref,creditor_ref,debtor_ref,Naam,street,house_number,postcode,Plaats,birth_date,email,phone,iban,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs\n" +
					",V-010,K-110,Jürgen Müller,,,,Den Haag,,,,,,,,,1000.00,,\n" +
					",V-011,K-111,Café ’t Hoekje,,,,Élburg,,,,,,,,,0.01,,\n"},
			},
			rejects:  rejectHeader,
			stats:    Stats{Rows: 2, Written: 2, Ignored: []string{"Opmerking"}},
			subjects: []string{"K-110", "K-111"},
		},
		{
			// Excel "Unicode text": UTF-16LE with a BOM, tab-delimited.
			name: "excel utf-16", file: "excel_utf16.txt", layout: detect,
			outs: []outSpec{{profile: "bailiff", want: "" +
				"case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs\n" +
				",U-1,K-1,Łukasz Żółw,,,,,,,,,,10.00,,\n"}},
			rejects:  rejectHeader,
			stats:    Stats{Rows: 1, Written: 1},
			subjects: []string{"K-1"},
		},
		{
			// A case-system file names each row's creditor; it keys the subject and is not sent on.
			name: "creditor field", layout: claim,
			input: []byte("creditor,creditor_ref,debtor_ref,name,principal\n" +
				"acme-energie,R-1,K-1,Jan,1.00\nwoonstede,R-2,K-1,Piet,2.00\n,R-3,K-3,Kees,3.00\n"),
			outs: []outSpec{{profile: "internal", want: "" +
				"case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,email,phone,iban,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs\n" +
				",R-1,K-1,Jan,,,,,,,,,,,,,1.00,,\n,R-2,K-1,Piet,,,,,,,,,,,,,2.00,,\n,R-3,K-3,Kees,,,,,,,,,,,,,3.00,,\n"}},
			rejects:  rejectHeader,
			stats:    Stats{Rows: 3, Written: 3},
			subjects: []string{"acme-energie/K-1", "woonstede/K-1", "K-3"},
		},
		{
			name: "ragged rows", file: "ragged.csv", layout: claim,
			outs: []outSpec{{profile: "creditor-payment", want: "" +
				"case_ref,creditor_ref,debtor_ref\n" +
				",R-1,K-1\n" +
				",R-4,K-4\n"}},
			rejects:  rejectHeader + "3,,,ragged_row\n4,,,ragged_row\n",
			stats:    Stats{Rows: 4, Written: 2, Rejected: 2, Reasons: map[string]int{"ragged_row": 2}},
			subjects: []string{"K-1", "K-4"},
		},
		{
			name: "unclosed quote", file: "unclosed_quote.csv", layout: claim,
			outs:    []outSpec{{profile: "internal"}},
			rejects: rejectHeader + "3,,,unclosed_quote\n",
			stats:   Stats{Rows: 1, Written: 1, Reasons: map[string]int{"unclosed_quote": 1}},
			fileErr: ReasonUnclosedQuote,
		},
		{
			name: "bare quotes", file: "bare_quote.csv", layout: claim,
			outs: []outSpec{{profile: "creditor-payment", want: "" +
				"case_ref,creditor_ref,debtor_ref\n" +
				",R-2,K-2\n"}},
			rejects:  rejectHeader + "2,,,broken_quoting\n4,,,broken_quoting\n",
			stats:    Stats{Rows: 3, Written: 1, Rejected: 2, Reasons: map[string]int{"broken_quoting": 2}},
			subjects: []string{"K-2"},
		},
		{
			name: "nul bytes", file: "nul_bytes.csv", layout: claim,
			outs: []outSpec{{profile: "creditor-status", want: "" +
				"case_ref,creditor_ref,debtor_ref,principal,interest,costs\n" +
				",R-3,K-3,3.00,,\n"}},
			rejects:  rejectHeader + "2,R-1,name,invalid_character\n3,R-2,principal,invalid_amount\n",
			stats:    Stats{Rows: 3, Written: 1, Rejected: 2, Reasons: map[string]int{"invalid_character": 1, "invalid_amount": 1}},
			subjects: []string{"K-3"},
		},
		{
			name: "header only", file: "header_only.csv", layout: claim,
			outs:    []outSpec{{profile: "creditor-payment", want: "case_ref,creditor_ref,debtor_ref\n"}},
			rejects: rejectHeader,
			stats:   Stats{},
		},
		{
			name: "empty", file: "empty.csv", layout: claim,
			outs:    []outSpec{{profile: "internal"}},
			rejects: rejectHeader + ",,,empty_file\n",
			stats:   Stats{Reasons: map[string]int{"empty_file": 1}},
			fileErr: ReasonEmptyFile,
		},
		{
			name: "bsn column", file: "bsn_column.csv", layout: claim,
			outs:    []outSpec{{profile: "internal"}},
			rejects: rejectHeader + "1,,BSN-nummer,bsn_column\n",
			stats:   Stats{Reasons: map[string]int{"bsn_column": 1}},
			fileErr: ReasonBSNColumn, bsn: true,
		},
		{
			// A legacy btw number is fine for a company but is a BSN on a person's row.
			name: "legacy btw number of a person", file: "legacy_btw_person.csv", layout: claim,
			outs:    []outSpec{{profile: "internal"}},
			rejects: rejectHeader + "3,,btw_id,bsn_in_btw_id\n",
			stats:   Stats{Rows: 2, Written: 1, Reasons: map[string]int{"bsn_in_btw_id": 1}},
			fileErr: ReasonBSNInBTWID, bsn: true,
		},
		{
			// Formula cells are neutralized, amounts keep their sign, a tab is trimmed away and a
			// CR inside a cell is refused.
			name: "formula cells", file: "formula.csv", layout: semicolon,
			outs: []outSpec{{profile: "lawyer", want: "" +
				"case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs\n" +
				`,R-1,K-1,"'=HYPERLINK(""http://x.example"";""klik"")",,,,'@SUM(A1),,,,,,1.00,-12.50,` + "\n" +
				",R-2,K-2,'+31 6 evil,,,,'-2+3,,,,,,2.00,,\n" +
				",R-3,K-3,'＝1+1,,,,Utrecht,,,,,,3.00,,\n" +
				",R-4,K-4,tab,,,,Utrecht,,,,,,4.00,,\n" +
				",'-R6,K-6,Zes,,,,Utrecht,,,,,,6.00,,\n"}},
			rejects:  rejectHeader + "6,R-5,name,invalid_character\n",
			stats:    Stats{Rows: 6, Written: 5, Rejected: 1, Reasons: map[string]int{"invalid_character": 1}},
			subjects: []string{"K-1", "K-2", "K-3", "K-4", "K-6"},
		},
		{
			name: "invalid values", file: "invalid_values.csv", layout: claim,
			outs: []outSpec{{profile: "internal", want: "" +
				"case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,email,phone,iban,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs\n" +
				",R-6,K-6,Zes,,,,,1992-02-29,jan.jansen+x@sub.example.com,+31201234567,DE89370400440532013000,,,,,1234.56,,\n"}},
			rejects: rejectHeader +
				"2,R-1,postcode,invalid_postcode\n" +
				"3,R-2,postcode,invalid_postcode\n" +
				"3,R-2,iban,invalid_iban\n" +
				"4,R-3,postcode,invalid_postcode\n" +
				"4,R-3,iban,invalid_iban\n" +
				"5,R-4,email,invalid_email\n" +
				"5,R-4,phone,invalid_phone\n" +
				"5,R-4,kvk,invalid_kvk\n" +
				"5,R-4,btw_id,invalid_btw_id\n" +
				"5,R-4,birth_date,invalid_date\n" +
				"6,R-5,name,missing_required\n" +
				"6,R-5,iban,invalid_iban\n" +
				"6,R-5,email,invalid_email\n" +
				"6,R-5,birth_date,invalid_date\n" +
				"6,R-5,principal,negative_amount\n" +
				"8,R-6,creditor_ref,duplicate_reference\n",
			stats: Stats{Rows: 7, Written: 1, Rejected: 6, Reasons: map[string]int{
				"invalid_postcode": 3, "invalid_iban": 3, "invalid_email": 2, "invalid_phone": 1, "invalid_kvk": 1,
				"invalid_btw_id": 1, "invalid_date": 2, "missing_required": 1, "negative_amount": 1, "duplicate_reference": 1}},
			subjects: []string{"K-6"},
		},
		{
			name: "missing column", file: "missing_column.csv", layout: claim,
			outs:    []outSpec{{profile: "internal"}},
			rejects: rejectHeader + "1,,name,missing_column\n",
			stats:   Stats{Reasons: map[string]int{"missing_column": 1}},
			fileErr: ReasonMissingColumn,
		},
		{
			name: "duplicate column", file: "duplicate_column.csv", layout: claim,
			outs:    []outSpec{{profile: "internal"}},
			rejects: rejectHeader + "1,,Name,duplicate_column\n",
			stats:   Stats{Reasons: map[string]int{"duplicate_column": 1}},
			fileErr: ReasonDuplicateColumn,
		},
		{
			// Without a header line the first row is read as one: its values must not show up
			// anywhere, not even as ignored column names.
			name: "no header line", file: "no_header.csv", layout: claim,
			outs: []outSpec{{profile: "internal"}},
			rejects: rejectHeader + "1,,creditor_ref,missing_column\n1,,debtor_ref,missing_column\n" +
				"1,,name,missing_column\n1,,principal,missing_column\n",
			stats:   Stats{Reasons: map[string]int{"missing_column": 4}},
			fileErr: ReasonMissingColumn,
		},
		{
			name: "payments", file: "payments.csv", layout: builtin(t, "payment"),
			outs: []outSpec{
				{profile: "creditor-payment", want: "" +
					"case_ref,creditor_ref,debtor_ref,paid_amount,payment_date\n" +
					"C-1,INV-1001,K-1,100.00,2025-03-01\n" +
					"C-1,INV-1001,K-1,-100.00,2025-03-02\n"},
				{profile: "internal", format: excelFormat, want: "" +
					"case_ref;creditor_ref;debtor_ref;paid_amount;payment_date;iban\n" +
					"C-1;INV-1001;K-1;100,00;01-03-2025;NL91ABNA0417164300\n" +
					"C-1;INV-1001;K-1;-100,00;02-03-2025;NL91ABNA0417164300\n"},
			},
			rejects:  rejectHeader + "4,INV-1002,paid_amount,missing_required\n",
			stats:    Stats{Rows: 3, Written: 2, Rejected: 1, Reasons: map[string]int{"missing_required": 1}},
			subjects: []string{"K-1", "K-1"},
		},
		{
			name: "status", file: "status.csv", layout: builtin(t, "status"),
			outs: []outSpec{{profile: "creditor-status", want: "" +
				"case_ref,creditor_ref,debtor_ref,status_code,status_date,principal,interest,costs,paid_amount,payment_date\n" +
				"C-1,INV-1001,K-1,paid,2025-03-02,1234.56,12.30,40.00,1286.86,2025-03-01\n"}},
			rejects:  rejectHeader + "3,INV-1002,status_code,invalid_status_code\n",
			stats:    Stats{Rows: 2, Written: 1, Rejected: 1, Reasons: map[string]int{"invalid_status_code": 1}},
			subjects: []string{"K-1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runCase(t, tc) })
	}
}

const internalHeader = "case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,email,phone,iban,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs\n"

// TestLineEnds reads the same claims with every kind of line end, quoted line breaks and blank
// lines, and accounts for every line of each file (runCase checks lines = header + rows +
// continued + blank, and counts the file's lines itself).
func TestLineEnds(t *testing.T) {
	threeClaims := internalHeader +
		",V-1,K-1,Jan Jansen,Dorpsstraat 1,,,Utrecht,,,,,,,,,1234.56,,\n" +
		",V-2,K-2,Els de Vries,Kerkweg 3,,,Groningen,,,,,,,,,99.95,,\n" +
		",V-3,K-3,Piet Bakker,Laan 5,,,Zwolle,,,,,,,,,10.00,,\n"
	same := func(name, file string, stats Stats) processCase {
		stats.Rows, stats.Written, stats.Ignored = 3, 3, []string{"Opmerking"}
		return processCase{name: name, file: file, layout: acme, lines: true,
			outs: []outSpec{{profile: "internal", want: threeClaims}}, rejects: rejectHeader, stats: stats,
			subjects: []string{"K-1", "K-2", "K-3"}}
	}
	cases := []processCase{
		same("LF", "lineends_lf.csv", Stats{Lines: 4}),
		same("CRLF", "lineends_crlf.csv", Stats{Lines: 4}),
		// Excel's "CSV (Macintosh)": bare CR.
		same("CR", "lineends_cr.csv", Stats{Lines: 4}),
		same("CR, no line end after the last row", "lineends_cr_noeol.csv", Stats{Lines: 4}),
		// CRLF, CR and LF in one file, with a blank line ended each way.
		same("mixed", "lineends_mixed.csv", Stats{Lines: 7, Blank: 3}),
		{
			// A header cell and data cells with CRLF, CR and LF inside quotes: a line break in
			// a column no field takes passes; in a name it rejects the row.
			name: "quoted line breaks", file: "quoted_breaks.csv", layout: acme, lines: true,
			outs:    []outSpec{{profile: "creditor-payment", want: "case_ref,creditor_ref,debtor_ref\n,V-1,K-1\n,V-3,K-3\n,V-4,K-4\n"}},
			rejects: rejectHeader + "5,V-2,Naam,invalid_character\n",
			stats: Stats{Lines: 10, Rows: 4, Written: 3, Rejected: 1, Continued: 5,
				Reasons: map[string]int{"invalid_character": 1}, Ignored: []string{"column 5"}},
			subjects: []string{"K-1", "K-3", "K-4"},
		},
		{
			// Empty lines before the header, between and after rows, a row of empty cells and
			// a line of spaces are blank lines.
			name: "blank lines", file: "blank_lines.csv", layout: acme, lines: true,
			outs:     []outSpec{{profile: "creditor-payment", want: "case_ref,creditor_ref,debtor_ref\n,V-1,K-1\n,V-2,K-2\n"}},
			rejects:  rejectHeader,
			stats:    Stats{Lines: 9, Rows: 2, Written: 2, Blank: 6},
			subjects: []string{"K-1", "K-2"},
		},
		{
			// Excel's total row, with and without a label, is a reject of its own.
			name: "excel total row", file: "excel_total_row.csv", layout: acme, lines: true,
			outs:    []outSpec{{profile: "creditor-payment", want: "case_ref,creditor_ref,debtor_ref\n,V-1,K-1\n,V-2,K-2\n"}},
			rejects: rejectHeader + "4,,,total_row\n5,,,total_row\n",
			stats: Stats{Lines: 6, Rows: 4, Written: 2, Rejected: 2, Blank: 1,
				Reasons: map[string]int{"total_row": 2}},
			subjects: []string{"K-1", "K-2"},
		},
		{
			// Text after the header but not one row: rejected whole, never delivered as a
			// header-only file.
			name: "no rows", file: "blank_cells_only.csv", layout: acme, lines: true,
			outs:    []outSpec{{profile: "internal"}},
			rejects: rejectHeader + "2,,,no_rows\n",
			stats:   Stats{Lines: 3, Blank: 2, Reasons: map[string]int{"no_rows": 1}},
			fileErr: ReasonNoRows,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runCase(t, tc) })
	}
}
