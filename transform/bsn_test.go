package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestBSNInText(t *testing.T) {
	for _, tc := range []struct {
		s          string
		text, name bool
	}{
		{"111222333", true, false},
		{"Jan Jansen 111222333", true, false},
		{"1234.56.782", true, false},
		{"123 456 782", true, false},
		{"123-456-782", true, false},
		{"BSN: 1234.56.782", true, true},
		{"sofinummer 111222333", true, true},
		{"Burgerservicenummer 111222333.", true, true},
		{"factuur 111222333", true, false},
		{"bsn 123456789", false, false},   // fails the 11-proef
		{"1112223330", false, false},      // ten digits
		{"11122233", false, false},        // eight
		{"111222333 444", false, false},   // twelve digits in one group
		{"111222333, 444", true, false},   // a comma ends a group
		{"000000000", false, false},       // zero is no BSN
		{"Dorpsstraat 12a", false, false}, //
		{"", false, false},
	} {
		if got := bsnInText(tc.s); got != tc.text {
			t.Errorf("bsnInText(%q) = %v", tc.s, got)
		}
		if got := bsnNamed(tc.s); got != tc.name {
			t.Errorf("bsnNamed(%q) = %v", tc.s, got)
		}
	}
}

// validBSNs returns n distinct nine-digit numbers passing the 11-proef.
func validBSNs(rnd *rand.Rand, n int) []string {
	var out []string
	seen := map[string]bool{}
	for len(out) < n {
		s := fmt.Sprintf("%09d", rnd.IntN(1e9))
		if _, pass, _ := bsnValue(s); pass && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// spell writes the digits of s with a single dot, space or hyphen, or nothing, in each gap
// between them, as rnd picks.
func spell(rnd *rand.Rand, s string) string {
	b := []byte{s[0]}
	for i := 1; i < len(s); i++ {
		if k := rnd.IntN(6); k < 3 {
			b = append(b, ". -"[k])
		}
		b = append(b, s[i])
	}
	return string(b)
}

// separated writes each of values as f does.
func separated(values []string, f func(string) string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = f(v)
	}
	return out
}

func column(values ...string) *bsnColumn {
	c := new(bsnColumn)
	for i, v := range values {
		if v != "" {
			c.add(v, i+2)
		}
	}
	return c
}

// TestBSNColumn tests the statistical column test both ways: columns of BSNs are found, with
// a few empty cells, typos and an eight-digit one among them; random invoice numbers, of which one
// in eleven passes the 11-proef, are not, nor is one passing number repeated on every row.
func TestBSNColumn(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 11))
	bsns := validBSNs(rnd, 500)
	rep := func(s string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	cases := []struct {
		name   string
		values []string
		want   bool
	}{
		{"six BSNs", bsns[:6], true},
		{"five BSNs: too few to tell", bsns[:5], false},
		{"500 BSNs", bsns, true},
		{"BSNs with empty cells, a typo and an eight-digit one", append(append([]string{"", "12345678", "", "111222334"}, bsns[:8]...), "", "n.b."), true},
		{"one passing number on every row", rep("111222333", 1000), false},
		{"three passing numbers over and over", append(append(rep(bsns[0], 100), rep(bsns[1], 100)...), rep(bsns[2], 100)...), false},
		{"a few BSNs among text", append([]string{"a", "b", "c", "d", "e", "f", "g"}, bsns[:6]...), false},
		// Separators do not hide a BSN: 1234.56.782, 123 456 782, 123-456-782, or any single
		// dot, space or hyphen between digits.
		{"BSNs with dots", separated(bsns[:50], func(b string) string { return b[:4] + "." + b[4:6] + "." + b[6:] }), true},
		{"BSNs with spaces", separated(bsns[:50], func(b string) string { return b[:3] + " " + b[3:6] + " " + b[6:] }), true},
		{"BSNs with hyphens", separated(bsns[:50], func(b string) string { return b[:3] + "-" + b[3:6] + "-" + b[6:] }), true},
		{"six BSNs spelled every way", separated(bsns[:6], func(b string) string { return spell(rnd, b) }), true},
		{"BSNs with dots, an eight-digit one among them", append(separated(bsns[10:17], func(b string) string { return b[:3] + "." + b[3:6] + "." + b[6:] }), "7552.41.61"), true},
		// The distinct values are numbers: one passing number spelled eight ways is one value.
		{"one passing number spelled eight ways", []string{"111222333", "111.222.333", "111 222 333", "111-222-333",
			"1112.22.333", "1.1.1.2.2.2.3.3.3", "11-12-22-333", "111.222-333"}, false},
		// Two separators in a row, or one at either end, make no BSN-shaped cell.
		{"BSNs with double separators", separated(bsns[:50], func(b string) string { return b[:3] + ".." + b[3:6] + ".." + b[6:] }), false},
		{"BSNs with a trailing dot", separated(bsns[:50], func(b string) string { return b + "." }), false},
	}
	for _, tc := range cases {
		if got := column(tc.values...).holdsBSN(); got != tc.want {
			t.Errorf("%s: holdsBSN = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, pass, ok := bsnValue("12345678"); !ok || pass {
		t.Errorf("12345678 read as a BSN")
	}

	// Random references: 6,000 columns of 1 to 400 nine- or eight-digit numbers, a third of
	// them written with dots, spaces and hyphens (123.456.789, 1234.56.789, 123 456 789, ...).
	// The chance that any is flagged is below 6,000 × 1e-6.
	for i := range 6_000 {
		n := 1 + rnd.IntN(400)
		c := new(bsnColumn)
		for j := range n {
			switch i % 3 {
			case 0:
				c.add(fmt.Sprintf("%09d", rnd.IntN(1e9)), j+2)
			case 1:
				c.add(fmt.Sprintf("%08d", rnd.IntN(1e8)), j+2)
			default:
				c.add(spell(rnd, fmt.Sprintf("%09d", rnd.IntN(1e9))), j+2)
			}
		}
		if c.holdsBSN() {
			t.Fatalf("a column of %d random numbers taken for BSNs (%d pass)", n, c.passed)
		}
	}
}

func TestBSNFiles(t *testing.T) {
	comma := acme
	comma.Delimiter, comma.Decimal = ',', '.'
	cases := []processCase{
		{
			// A BSN in a name, in a city (written with dots) and after "BSN" in a column no field
			// takes rejects its row; a passing number in a reference, in a name when it fails the
			// 11-proef, or in the notes without the word, does not.
			name: "bsn in free text", file: "bsn_in_text.csv", layout: builtin(t, "claim"), lines: true,
			outs:    []outSpec{{profile: "creditor-payment", want: "case_ref,creditor_ref,debtor_ref\n,R-4,K-4\n,R-5,111222333\n,R-6,K-6\n"}},
			rejects: rejectHeader + "2,R-1,name,possible_bsn\n3,R-2,city,possible_bsn\n4,R-3,notes,possible_bsn\n",
			stats: Stats{Lines: 7, Rows: 6, Written: 3, Rejected: 3, PossibleBSN: 3,
				Reasons: map[string]int{"possible_bsn": 3}, Ignored: []string{"notes"}},
			subjects: []string{"K-4", "111222333", "K-6"},
		},
		{
			// 300 random nine-digit invoice numbers (25 pass the 11-proef) and a creditor number
			// that passes on every row: no BSN column.
			name: "random references", file: "random_refs.csv", layout: builtin(t, "claim"), lines: true,
			rejects: rejectHeader,
			stats:   Stats{Lines: 301, Rows: 300, Written: 300, Ignored: []string{"Crediteur"}},
		},
		{
			// The same written with dots, spaces and hyphens ("123.456.789", "1234.56.789",
			// "123 456 789", "123-456-789"; 25 pass) and the creditor number as 111.222.333: still
			// no BSN column.
			name: "random references with separators", file: "random_refs_separated.csv", layout: builtin(t, "claim"), lines: true,
			rejects: rejectHeader,
			stats:   Stats{Lines: 301, Rows: 300, Written: 300, Ignored: []string{"Crediteur"}},
		},
	}
	// A column of BSNs under a header that does not say so rejects the file, also when they are
	// written with dots ("1234.56.782"), spaces or hyphens: the separators do not hide them.
	for _, file := range []string{"bsn_column_values.csv", "bsn_column_dotted.csv", "bsn_column_spaced.csv", "bsn_column_dashed.csv"} {
		cases = append(cases, processCase{
			name: file, file: file, layout: comma, lines: true,
			outs:    []outSpec{{profile: "internal"}},
			rejects: rejectHeader + "2,,Klantnummer,bsn_column\n",
			stats:   Stats{Lines: 11, Rows: 10, Written: 10, Reasons: map[string]int{"bsn_column": 1}},
			fileErr: ReasonBSNColumn, bsn: true,
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runCase(t, tc) })
	}
}

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
