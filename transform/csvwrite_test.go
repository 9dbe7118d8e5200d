package transform

import (
	"bytes"
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
