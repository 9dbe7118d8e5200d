package transform

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLayoutReader feeds arbitrary bytes through Process under a layout picked by the fuzzer. It
// must not panic; it either rejects the file or accounts for every row and every line (the lines
// counted here, apart from Process), and what it writes is well-formed CSV without a
// formula-looking text cell. The same bytes with every line end made a bare CR read the same.
func FuzzLayoutReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.csv")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, byte(0), byte(0), false)
		f.Add(b, byte(1), byte(1), true)
	}
	f.Add([]byte("\xff\xfec\x00r\x00"), byte(0), byte(0), false)
	f.Fuzz(func(t *testing.T, data []byte, delim, choice byte, comma bool) {
		l := builtin(t, Records[int(choice)%len(Records)])
		l.Delimiter = []rune{0, ';', ',', '\t', '|'}[int(delim)%5]
		if choice&4 != 0 {
			l.Charset = "windows-1252"
		}
		if comma {
			l.Decimal, l.DateFormat = ',', "02-01-2006"
			l.Columns = map[string]string{"Vordering": "creditor_ref", "Klant": "debtor_ref"}
		}
		run := func(data []byte) (Stats, error, string) {
			var internal, status, rej bytes.Buffer
			outs := []Output{
				{W: &internal, Profile: profile(t, "internal")},
				{W: &status, Profile: profile(t, "creditor-payment"), Format: Format{Delimiter: ';', Decimal: ',', Charset: "windows-1252"}},
			}
			st, err := Process(context.Background(), bytes.NewReader(data), l, outs, &rej)
			var fe *FileError
			if errors.As(err, &fe) && fe.Reason == ReasonUnaccounted {
				t.Fatalf("the reader lost lines: %v, stats %+v", err, st)
			}
			if err != nil {
				if !errors.Is(err, ErrRejected) {
					t.Fatalf("error %v is not a rejection", err)
				}
				return st, err, rej.String()
			}
			if st.Rows != st.Written+st.Rejected || !st.Accounted() {
				t.Fatalf("stats %+v do not add up", st)
			}
			checkCSV(t, internal.Bytes(), ',', st.Written+1, l.Record)
			checkCSV(t, status.Bytes(), ';', st.Written+1, l.Record)
			checkCSV(t, rej.Bytes(), ',', -1, "")
			return st, nil, internal.String() + status.String() + rej.String()
		}
		st, err, out := run(data)
		if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
			return // UTF-16: its line ends are not single bytes
		}
		if err == nil && st.Lines != physicalLines(data) {
			t.Fatalf("stats count %d lines, the input has %d", st.Lines, physicalLines(data))
		}
		if len(data) > MaxRecordBytes/2 {
			return // shorter line ends could move where a row is too long
		}
		mac := bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\r")), []byte("\n"), []byte("\r"))
		st2, err2, out2 := run(mac)
		if fmt.Sprint(st) != fmt.Sprint(st2) || fmt.Sprint(err) != fmt.Sprint(err2) || out != out2 {
			t.Fatalf("with CR line ends:\n%+v %v\n%s\nwith the file's own:\n%+v %v\n%s", st2, err2, out2, st, err, out)
		}
	})
}

// checkCSV parses out: rows of one width, the expected count (-1: any), and no text cell that a
// spreadsheet would take for a formula.
func checkCSV(t *testing.T, out []byte, comma rune, rows int, record string) {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(out))
	r.Comma = comma
	all, err := r.ReadAll() // test output, small
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%q", err, out)
	}
	if rows >= 0 && len(all) != rows {
		t.Fatalf("output has %d rows, want %d", len(all), rows)
	}
	if len(all) == 0 {
		return
	}
	kinds := map[string]kind{}
	if rd := records[record]; rd != nil {
		for _, f := range rd.fields {
			kinds[f.name] = f.kind
		}
	}
	header := all[0]
	for _, row := range all[1:] {
		for i, cell := range row {
			if k, ok := kinds[header[i]]; ok && (k == kindAmount || k == kindPhone) {
				continue
			}
			if c := strings.TrimLeft(cell, " "); c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Fatalf("cell %q of column %s is not neutralized", cell, header[i])
			}
		}
	}
}

// FuzzFields feeds one string to every field parser. None may panic, each returns a value or a
// known reason, and a parsed value reads back as itself.
func FuzzFields(f *testing.F) {
	for _, s := range []string{"NL91ABNA0417164300", "nl91 abna 0417 1643 00", "1234ab", "06-12345678", "+31 (0)6 12345678",
		"jan@example.nl", "12345678", "NL000099998B57", "NL111222333B01", "1.234,56", "-0,01", "31-12-2025", "2025-12-31",
		"", "\x00", "\xff", "=1+1", "99999999999999999999", "111222333", "BSN 1234.56.782", "12345678",
		"1234.56.782", "123 456 782", "123-456-782", "1234..56.782", "7552.41.61"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	known := map[string]bool{"": true}
	for _, r := range []string{ReasonFieldTooLong, ReasonInvalidCharacter, ReasonInvalidEncoding, ReasonInvalidAmount,
		ReasonInvalidDate, ReasonInvalidIBAN, ReasonInvalidPostcode, ReasonInvalidPhone, ReasonInvalidEmail,
		ReasonInvalidKvK, ReasonInvalidBTWID, ReasonInvalidStatusCode} {
		known[r] = true
	}
	layouts := []dateLayout{compileDate("2006-01-02"), compileDate("02-01-2006"), compileDate("2 January 2006")}
	f.Fuzz(func(t *testing.T, s string, comma bool) {
		must := func(what, reason string) {
			if !known[reason] {
				t.Fatalf("%s(%q): unknown reason %q", what, s, reason)
			}
		}
		dec := byte('.')
		if comma {
			dec = ','
		}
		a, r := parseAmount(s, dec)
		must("parseAmount", r)
		if r == "" {
			if b, r2 := parseAmount(string(appendAmount(nil, a, dec)), dec); b != a || r2 != "" {
				t.Fatalf("amount %q -> %d -> %d %q", s, a, b, r2)
			}
		}
		for _, dl := range layouts {
			d, r := dl.parse(s)
			must("parseDate", r)
			if r == "" {
				if e, r2 := dl.parse(string(dl.appendDate(nil, d))); e != d || r2 != "" {
					t.Fatalf("date %q -> %v -> %v %q", s, d, e, r2)
				}
			}
		}
		iban, r := parseIBAN(s)
		must("parseIBAN", r)
		if r == "" {
			if w, r2 := parseIBAN(string(iban)); w != iban || r2 != "" {
				t.Fatalf("iban %q -> %q -> %q", s, iban, w)
			}
		}
		pc, r := parsePostcode(s)
		must("parsePostcode", r)
		if r == "" {
			if w, r2 := parsePostcode(string(pc)); w != pc || r2 != "" {
				t.Fatalf("postcode %q -> %q -> %q", s, pc, w)
			}
		}
		ph, r := parsePhone(s)
		must("parsePhone", r)
		if r == "" {
			if w, r2 := parsePhone(string(ph)); w != ph || r2 != "" {
				t.Fatalf("phone %q -> %q -> %q", s, ph, w)
			}
		}
		btw, legacy, r := parseBTWID(s)
		must("parseBTWID", r)
		if r == "" {
			if w, l2, r2 := parseBTWID(string(btw)); w != btw || l2 != legacy || r2 != "" {
				t.Fatalf("btw %q -> %q -> %q", s, btw, w)
			}
		}
		// A cell of nine digits is a BSN in a column exactly when it is one in a text.
		if _, pass, ok := bsnValue(s); ok && len(s) == 9 && pass != bsnInText(s) {
			t.Fatalf("bsnValue(%q) passes %v, bsnInText %v", s, pass, bsnInText(s))
		}
		// So is a cell of nine digits with single separators between them ("1234.56.782").
		if s != "" && isDigit(s[0]) {
			var d [9]byte
			c := new(bsnColumn)
			c.add(s, 2)
			if n, end := digitGroup(s, 0, &d); end == len(s) && n == 9 && (c.passed == 1) != bsnInText(s) {
				t.Fatalf("%q passes in a column %v, in a text %v", s, c.passed == 1, bsnInText(s))
			}
		}
		if bsnNamed(s) && !bsnInText(s) {
			t.Fatalf("bsnNamed(%q) without a number", s)
		}
		must("checkEmail", checkEmail(s))
		must("checkKvK", checkKvK(s))
		must("checkCode", checkCode(s))
		must("checkText", checkText(s, maxText))
		if n := neutralize(s); n != s && n != "'"+s {
			t.Fatalf("neutralize(%q) = %q", s, n)
		}
	})
}
