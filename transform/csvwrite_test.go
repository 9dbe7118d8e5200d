package transform

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
)

// csvRecord is what encoding/csv's Writer writes for fields with delimiter comma.
func csvRecord(t testing.TB, fields []string, comma byte) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Comma = rune(comma)
	if err := w.Write(fields); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.Bytes()
}

var fieldCases = []string{
	"", " ", "a", "plain", `\.`, `\.x`, `.\`, `\`, `"`, `""`, `a"b`, "a\nb", "a\rb", "a\r\nb", "\r", "\n",
	" lead", "trail ", "\tlead", "\vx", "\fx", "\u0085x", "\u00a0x", "\u2003x", "x\u00a0", "\u00e9t\u00e9",
	"a,b", "a;b", "a\tb", "a|b", ",", ";", "|", "\t", "1234,56", "-12.50", "'=1+1", "\xff\xfe", "\xc2",
	"\xe2\x80", "x\x00y", "Debiteur 12 Jansen", "NL91ABNA0417164300", "+31612345678", "1234 AB",
}

// TestAppendFieldMatchesEncodingCSV: an output row is byte for byte what encoding/csv's Writer
// writes, for every delimiter, one field at a time and as whole records.
func TestAppendFieldMatchesEncodingCSV(t *testing.T) {
	for _, comma := range delimiters {
		for _, f := range fieldCases {
			want := csvRecord(t, []string{f}, comma)
			if got := appendRecord(nil, []string{f}, comma); !bytes.Equal(got, want) {
				t.Errorf("delimiter %q, field %q: got %q, want %q", comma, f, got, want)
			}
			b := append([]byte("x"), f...)
			if got, want := string(quoteTail(b, 1, comma)), "x"+strings.TrimSuffix(string(want), "\n"); got != want {
				t.Errorf("delimiter %q, quoteTail %q: got %q, want %q", comma, f, got, want)
			}
		}
		if got, want := appendRecord(nil, fieldCases, comma), csvRecord(t, fieldCases, comma); !bytes.Equal(got, want) {
			t.Errorf("delimiter %q, all fields: got %q, want %q", comma, got, want)
		}
	}
}

// FuzzAppendRecord compares appendRecord with encoding/csv's Writer on records split from
// arbitrary text.
func FuzzAppendRecord(f *testing.F) {
	for _, c := range fieldCases {
		f.Add(c, byte(0))
	}
	f.Add("a\x1fb\x1f \x1f\\.", byte(3))
	f.Fuzz(func(t *testing.T, s string, d byte) {
		comma := delimiters[int(d)%len(delimiters)]
		fields := strings.Split(s, "\x1f")
		if got, want := appendRecord(nil, fields, comma), csvRecord(t, fields, comma); !bytes.Equal(got, want) {
			t.Fatalf("delimiter %q, fields %q: got %q, want %q", comma, fields, got, want)
		}
	})
}

// TestOutputQuotingMatchesEncodingCSV: what Process writes, under every delimiter, decimal mark
// and a date format of each kind, is what encoding/csv's Writer writes for the same fields: read
// back and written again by encoding/csv, every output is the same bytes. It holds the
// shortcuts of outWriter.write (values in their stored form written unquoted) to the Writer.
func TestOutputQuotingMatchesEncodingCSV(t *testing.T) {
	in := []byte(claimHeader)
	for i := range 300 {
		in = appendClaimRow(in, i)
	}
	// Free text that needs quoting, amounts, dates and values written in other notations.
	in = append(in, "C-1,\"R,1\",\"K;1\",\" Jan \"\"J\"\" |x\",\"a|b;c\",12,1234ab,\"\\.\",1980-05-17,a@b.nl,+31 6 1234 5678,nl91 abna 0417 1643 00,12345678,nl0000.99998.b57,\"F\"\"1\",2025-01-15,1234.5,-0.5,1\n"...)
	for _, comma := range delimiters {
		for _, dec := range []rune{'.', ','} {
			for _, date := range []string{"", "02-01-2006", "02.01.2006", "Jan 2, 2006", "2 January 2006 | Mon"} {
				var out bytes.Buffer
				f := Format{Delimiter: rune(comma), Decimal: dec, DateFormat: date}
				st, err := Process(context.Background(), bytes.NewReader(in), builtin(t, "claim"),
					[]Output{{W: &out, Profile: profile(t, "internal"), Format: f}}, nil)
				if err != nil || st.Written != 301 {
					t.Fatalf("format %+v: Process = %+v, %v; want 301 rows written", f, st, err)
				}
				r := csv.NewReader(bytes.NewReader(out.Bytes()))
				r.Comma = rune(comma)
				recs, err := r.ReadAll()
				if err != nil {
					t.Fatalf("format %+v: output does not read back: %v", f, err)
				}
				var again bytes.Buffer
				w := csv.NewWriter(&again)
				w.Comma = rune(comma)
				w.WriteAll(recs)
				if !bytes.Equal(out.Bytes(), again.Bytes()) {
					t.Errorf("format %+v: output differs from encoding/csv's for the same fields", f)
				}
			}
		}
	}
}
