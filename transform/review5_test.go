package transform

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestBSNHeaderOfDataRowNotInError: a file without a header line has its first row read as the
// header, and isBSNHeader takes a debtor's name for a BSN header when its words run together
// begin or end with "bsn" ("B. Snel" is "bsnel", "Jacobs N." is "jacobsn"), or a note names a
// BSN. The file is then rejected as bsn_column, and the FileError, which the runner logs, must
// not name the column by that cell: an error names line and column, never a cell's value.
func TestBSNHeaderOfDataRowNotInError(t *testing.T) {
	for _, tc := range []struct{ row, secret string }{
		{"V-1;K-1;B. Snel;Kerkweg;Groningen;99,95;belt terug\n", "Snel"},
		{"V-1;K-1;Jacobs N.;Kerkweg;Groningen;99,95;\n", "Jacobs"},
		{"V-1;K-1;Els de Vries;Kerkweg;Groningen;99,95;bsn opgevraagd bij J. Jansen\n", "Jansen"},
	} {
		var rej strings.Builder
		_, err := Process(context.Background(), strings.NewReader(tc.row), acme,
			[]Output{{W: io.Discard, Profile: profile(t, "internal")}}, &rej)
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("%q: err = %v, want a FileError", tc.row, err)
		}
		if strings.Contains(err.Error(), tc.secret) {
			t.Errorf("the error names a cell of a data row: %v", err)
		}
	}
}

// TestEightDigitBSNInCell: a BSN that begins with 0 is often written without it (Excel drops
// it; the column test, bsnColumn.add, counts eight digits as BSN-shaped for that reason). Named
// as a BSN ("BSN 12345672") in a reference or in free text, the eight digits of 012345672 must
// reject the row as possible_bsn as the nine do, and never reach a bailiff's output.
func TestEightDigitBSNInCell(t *testing.T) {
	for _, tc := range []struct{ name, debtor string }{
		{"Jan Jansen", "BSN 12345672"},
		{"Jan Jansen (bsn 12345672)", "K-1"},
		{"Jan Jansen", "BSN 012345672"}, // the nine digits: rejected today
	} {
		in := "creditor_ref,debtor_ref,name,principal\nR-1," + tc.debtor + "," + tc.name + ",1.00\n"
		var out strings.Builder
		st, err := Process(context.Background(), strings.NewReader(in), builtin(t, "claim"),
			[]Output{{W: &out, Profile: profile(t, "bailiff")}}, nil)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if strings.Contains(out.String(), "2345672") || st.PossibleBSN != 1 {
			t.Errorf("%s / %s: possible_bsn %d, output:\n%s", tc.debtor, tc.name, st.PossibleBSN, out.String())
		}
	}
}

// TestOutputDateFormatReadsBack: a recipient's date format must read back the date written
// (checkDateFormat's promise). With a two-digit year ("02-01-06") a birth date of 1950 is
// written "01-03-50", which that format reads as 2050: Process must refuse the format, or write
// what reads back as 1950.
func TestOutputDateFormatReadsBack(t *testing.T) {
	const layout = "02-01-06"
	in := "creditor_ref,debtor_ref,name,birth_date,principal\nR-1,K-1,Jan Jansen,1950-03-01,1.00\n"
	var out strings.Builder
	_, err := Process(context.Background(), strings.NewReader(in), builtin(t, "claim"),
		[]Output{{W: &out, Profile: profile(t, "bailiff"), Format: Format{DateFormat: layout}}}, nil)
	if err != nil {
		if !strings.Contains(err.Error(), `date format "02-01-06"`) {
			t.Fatalf("err = %v, want the date format refused", err)
		}
		return // refused: nothing is written that reads back wrong
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 2 {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, cell := range strings.Split(lines[1], ",") {
		if d, err := time.Parse(layout, cell); err == nil && d.Year() != 1950 {
			t.Errorf("birth date 1950-03-01 written %q, which %q reads as %s", cell, layout, d.Format("2006-01-02"))
		}
	}
}
