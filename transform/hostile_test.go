package transform

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// countingReader counts the bytes Process pulled from the input.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestHugeField feeds a 10 MB cell, quoted and unquoted, and a quote left open at the top of a
// large file: the file is rejected at that row, and Process stops reading about a MaxRecordBytes
// past it instead of holding 10 MB.
func TestHugeField(t *testing.T) {
	big := strings.Repeat("x", 10<<20)
	head := "creditor_ref,debtor_ref,name,principal\nR-1,K-1,Een,1.00\n"
	cases := []struct {
		name, input string
		line        int
		reason      string
	}{
		{"unquoted 10 MB cell", head + "R-2,K-2," + big + ",2.00\nR-3,K-3,Drie,3.00\n", 3, ReasonRecordTooLong},
		{"quoted 10 MB cell", head + "R-2,K-2,\"" + big + "\",2.00\nR-3,K-3,Drie,3.00\n", 3, ReasonRecordTooLong},
		{"open quote over 10 MB of rows", head + "R-2,K-2,\"Twee,2.00\n" + strings.Repeat("R-9,K-9,Negen,9.00\n", 600_000), 3, ReasonRecordTooLong},
		{"10 MB header", big + "\nR-1\n", 1, ReasonRecordTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := &countingReader{r: strings.NewReader(tc.input)}
			var out, rej bytes.Buffer
			_, err := Process(context.Background(), in, builtin(t, "claim"), []Output{{W: &out, Profile: profile(t, "internal")}}, &rej)
			var fe *FileError
			if !errors.As(err, &fe) || fe.Reason != tc.reason || fe.Line != tc.line {
				t.Fatalf("err = %v, want %s at line %d", err, tc.reason, tc.line)
			}
			if want := rejectHeader + strconv.Itoa(tc.line) + ",,," + tc.reason + "\n"; reasonsOnly(t, rej.String()) != want {
				t.Errorf("reject report %q, want %q", rej.String(), want)
			}
			if limit := MaxRecordBytes + 4*readBuffer; in.n > limit {
				t.Errorf("read %d bytes of input, want at most %d", in.n, limit)
			}
			if strings.Contains(err.Error(), "xxx") {
				t.Errorf("error carries the cell: %.80s", err)
			}
		})
	}
}

// TestFieldTooLong: a cell over its field's limit rejects its row only; at the limit it passes.
func TestFieldTooLong(t *testing.T) {
	in := "creditor_ref,debtor_ref,name,principal\n" +
		"R-1,K-1," + strings.Repeat("n", 200) + ",1.00\n" +
		"R-2,K-2," + strings.Repeat("n", 201) + ",2.00\n" +
		strings.Repeat("r", 65) + ",K-3,Drie,3.00\n"
	var out, rej bytes.Buffer
	st, err := Process(context.Background(), strings.NewReader(in), builtin(t, "claim"),
		[]Output{{W: &out, Profile: profile(t, "creditor-payment")}}, &rej)
	if err != nil {
		t.Fatal(err)
	}
	if want := "case_ref,creditor_ref,debtor_ref\n,R-1,K-1\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	// The over-long reference is not echoed back.
	if want := rejectHeader + "3,R-2,name,field_too_long\n4,,creditor_ref,field_too_long\n"; reasonsOnly(t, rej.String()) != want {
		t.Errorf("reject report %q, want %q", rej.String(), want)
	}
	if st.Rows != 3 || st.Written != 1 || st.Rejected != 2 || st.Reasons[ReasonFieldTooLong] != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestNoPersonalDataInErrors checks that file errors name lines and columns, never values.
func TestNoPersonalDataInErrors(t *testing.T) {
	cases := []struct{ input, secret string }{
		{"creditor_ref,debtor_ref,name,Burger Service Nummer,principal\nR-1,K-1,Jan,111222333,1.00\n", "111222333"},
		{"creditor_ref,debtor_ref,name,birth_date,btw_id,principal\nR-1,K-1,Jan Geheim,1970-01-01,NL111222333B01,1.00\n", "111222333"},
		{"R-1,K-1,Jan Geheim,jan@geheim.example,123456789,1.00\n", "Geheim"},
		{"creditor_ref,debtor_ref,name,principal\nR-1,K-1,\"Jan Geheim,1.00\nR-2,K-2,Piet,2.00\n", "Geheim"},
	}
	for _, tc := range cases {
		var rej bytes.Buffer
		_, err := Process(context.Background(), strings.NewReader(tc.input), builtin(t, "claim"), nil, &rej)
		if !errors.Is(err, ErrRejected) {
			t.Fatalf("err = %v, want ErrRejected", err)
		}
		for _, s := range []string{err.Error(), rej.String()} {
			if strings.Contains(s, tc.secret) || strings.Contains(s, "jan@") || strings.Contains(s, "123456789") {
				t.Errorf("%q leaks a value", s)
			}
		}
	}
}

func TestLabel(t *testing.T) {
	for _, tc := range []struct{ h, want string }{
		{"Klantnummer", "Klantnummer"},
		{"Adres regel 2", "Adres regel 2"},
		{"123456789", "column 4"},
		{"jan@example.nl", "column 4"},
		{"", "column 4"},
		{"a\x00b", "column 4"},
		{strings.Repeat("h", 65), "column 4"},
	} {
		if got := label(tc.h, 3); got != tc.want {
			t.Errorf("label(%q) = %q, want %q", tc.h, got, tc.want)
		}
	}
}

func TestLayoutRequired(t *testing.T) {
	l := builtin(t, "claim")
	l.Required = []string{"iban"}
	in := "creditor_ref,debtor_ref,name,principal,iban\nR-1,K-1,Een,1.00,NL91ABNA0417164300\nR-2,K-2,Twee,2.00,\n"
	var rej bytes.Buffer
	st, err := Process(context.Background(), strings.NewReader(in), l, nil, &rej)
	if err != nil || st.Written != 1 || reasonsOnly(t, rej.String()) != rejectHeader+"3,R-2,iban,missing_required\n" {
		t.Errorf("got %+v %v %q", st, err, rej.String())
	}
	rej.Reset()
	_, err = Process(context.Background(), strings.NewReader("creditor_ref,debtor_ref,name,principal\n"), l, nil, &rej)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Reason != ReasonMissingColumn || fe.Column != "iban" {
		t.Errorf("err = %v, want missing_column iban", err)
	}
}

// TestColumnsMapping: mapped headers match whatever their case and spacing; the other headers
// match canonical names; an unmapped, unknown header is ignored.
func TestColumnsMapping(t *testing.T) {
	l := builtin(t, "claim")
	l.Columns = map[string]string{"Klantnummer": "debtor_ref", "Bedrag": "principal"}
	in := " KLANTNUMMER ,Creditor_Ref,NAME,bedrag,Geslacht\nK-1,R-1,Een,1.00,M\n"
	var out bytes.Buffer
	st, err := Process(context.Background(), strings.NewReader(in), l, []Output{{W: &out, Profile: profile(t, "creditor-status")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "case_ref,creditor_ref,debtor_ref,principal,interest,costs\n,R-1,K-1,1.00,,\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if strings.Join(st.Ignored, ",") != "Geslacht" {
		t.Errorf("ignored %q", st.Ignored)
	}
}

func TestCheck(t *testing.T) {
	var report bytes.Buffer
	l := acme
	st, err := Check(context.Background(), strings.NewReader(
		"Vordering;Klantnummer;Naam;Bedrag;Extra\nV-1;K-1;Een;1,00;x\nV-2;K-2;Twee;-2,00;y\nV-3;K-3;;abc;z\n"), l, &report)
	if err != nil || st.Rejected != 2 {
		t.Fatalf("Check: %+v %v", st, err)
	}
	want := rejectHeader +
		"3,V-2,Bedrag,negative_amount\n" +
		"4,V-3,Naam,missing_required\n" +
		"4,V-3,Bedrag,invalid_amount\n" +
		"\nlayout acme (record claim): 3 rows, 1 accepted, 2 rejected\n" +
		"lines: 4 = 1 header + 3 rows + 0 continued + 0 blank\n" +
		"reasons: invalid_amount=1 missing_required=1 negative_amount=1\n" +
		"ignored columns: Extra\n" +
		"file accepted; rejected rows are left out and reported\n"
	if reasonsOnly(t, report.String()) != want {
		t.Errorf("report:\n%s\nwant:\n%s", report.String(), want)
	}

	// A line without the layout's required columns may be a row of data (a file without a
	// header line): its BSN column is named by its number, not by its text.
	report.Reset()
	_, err = Check(context.Background(), strings.NewReader("bsn;naam\n"), l, &report)
	want = rejectHeader + "1,,column 1,bsn_column\n" +
		"\nlayout acme (record claim): 0 rows, 0 accepted, 0 rejected\n" +
		"reasons: bsn_column=1\n" +
		"file rejected: transform: file rejected: bsn_column: line 1: column \"column 1\"\n"
	if !errors.Is(err, ErrBSN) || reasonsOnly(t, report.String()) != want {
		t.Errorf("report:\n%s\nwant:\n%s\nerr %v", report.String(), want, err)
	}
	// A header line with them names it by its header.
	report.Reset()
	_, err = Check(context.Background(), strings.NewReader("Vordering;Klantnummer;Naam;Straat;Plaats;Bedrag;Burgerservicenummer\n"), l, &report)
	if !errors.Is(err, ErrBSN) || !strings.Contains(report.String(), "\n1,,Burgerservicenummer,bsn_column,") {
		t.Errorf("report:\n%s\nerr %v", report.String(), err)
	}
}

func TestProcessCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Process(ctx, strings.NewReader("creditor_ref,debtor_ref,name,principal\nR-1,K-1,Een,1.00\n"), builtin(t, "claim"), nil, nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrRejected) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestProcessConfigErrors: a bad layout, profile or format is the configuration's fault, not the
// file's: a plain error before any input is read, not ErrRejected.
func TestProcessConfigErrors(t *testing.T) {
	claim := builtin(t, "claim")
	bad := claim
	bad.Record = "invoice"
	var w bytes.Buffer
	cases := []struct {
		name   string
		layout Layout
		outs   []Output
		want   string
	}{
		{"unknown record", bad, nil, `unknown record "invoice"`},
		{"no writer", claim, []Output{{Profile: profile(t, "internal")}}, "no writer"},
		{"unknown profile field", claim, []Output{{W: &w, Profile: Profile{Name: "x", Fields: []string{"bsn"}}}}, `"bsn" is not a canonical field`},
		{"profile allows nothing", claim, []Output{{W: &w, Profile: Profile{Name: "x", Fields: []string{"status_code"}}}}, "allows no field of record claim"},
		{"bad delimiter", claim, []Output{{W: &w, Profile: profile(t, "internal"), Format: Format{Delimiter: '"'}}}, "delimiter"},
		{"bad charset", claim, []Output{{W: &w, Profile: profile(t, "internal"), Format: Format{Charset: "latin-9"}}}, `charset "latin-9"`},
		{"bad header field", claim, []Output{{W: &w, Profile: profile(t, "internal"), Format: Format{Header: map[string]string{"naam": "Naam"}}}}, `"naam" is not a canonical field`},
		{"bad date format", claim, []Output{{W: &w, Profile: profile(t, "internal"), Format: Format{DateFormat: "01-2006"}}}, "date format"},
	}
	for _, tc := range cases {
		in := &countingReader{r: strings.NewReader("creditor_ref\n")}
		_, err := Process(context.Background(), in, tc.layout, tc.outs, nil)
		if err == nil || errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), tc.want) || in.n != 0 {
			t.Errorf("%s: err = %v (read %d bytes), want a config error with %q", tc.name, err, in.n, tc.want)
		}
	}
}
