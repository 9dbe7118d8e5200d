package transform

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	xtransform "golang.org/x/text/transform"
)

// Layout is how one creditor's CSV maps onto a canonical record.
type Layout struct {
	Name       string
	Record     string            // "claim" | "payment" | "status"
	Delimiter  rune              // ';' ',' '\t' '|'; 0 = detect from the header line
	Charset    string            // "utf-8" (BOM or not) | "windows-1252"; "" = utf-8
	Decimal    rune              // ',' or '.'; 0 = '.'
	DateFormat string            // Go time layout, e.g. "02-01-2006"; "" = "2006-01-02"
	Columns    map[string]string // source header -> canonical field; nil = headers are canonical names
	Required   []string          // canonical fields that must be non-empty, besides the record's own
}

// MaxRecordBytes bounds one row of input (after decoding). A longer row rejects the whole file:
// past it the reader cannot find the next row without holding the rest of the file in memory.
const MaxRecordBytes = 1 << 20

// BuiltinLayout returns the layout of a canonical file of record: canonical headers, ',', UTF-8,
// decimal point and 2006-01-02 dates.
func BuiltinLayout(record string) (Layout, error) {
	if _, ok := records[record]; !ok {
		return Layout{}, fmt.Errorf("transform: unknown record %q", record)
	}
	return Layout{Name: record, Record: record, Delimiter: ',', Charset: "utf-8", Decimal: '.', DateFormat: "2006-01-02"}, nil
}

// Validate checks the layout, naming the first thing wrong.
func (l Layout) Validate() error {
	rd, ok := records[l.Record]
	if !ok {
		return fmt.Errorf("transform: layout %s: unknown record %q (want claim, payment or status)", l.Name, l.Record)
	}
	switch l.Delimiter {
	case 0, ';', ',', '\t', '|':
	default:
		return fmt.Errorf("transform: layout %s: delimiter %q not one of ; , tab |", l.Name, l.Delimiter)
	}
	if _, err := charsetOf(l.Charset); err != nil {
		return fmt.Errorf("transform: layout %s: %w", l.Name, err)
	}
	switch l.Decimal {
	case 0, '.', ',':
	default:
		return fmt.Errorf("transform: layout %s: decimal %q not , or .", l.Name, l.Decimal)
	}
	if err := checkDateFormat(l.DateFormat); err != nil {
		return fmt.Errorf("transform: layout %s: %w", l.Name, err)
	}
	seen := map[string]string{}
	for src, field := range l.Columns {
		key := strings.ToLower(strings.TrimSpace(src))
		if key == "" {
			return fmt.Errorf("transform: layout %s: columns: empty header name", l.Name)
		}
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("transform: layout %s: columns: %q and %q are the same header", l.Name, prev, src)
		}
		seen[key] = src
		if _, ok := rd.byName[field]; !ok {
			return fmt.Errorf("transform: layout %s: columns: %s: %q is not a field of record %s", l.Name, src, field, l.Record)
		}
		if isBSNHeader(src) {
			return fmt.Errorf("transform: layout %s: columns: %s: a BSN column is never read", l.Name, src)
		}
	}
	for _, f := range l.Required {
		if _, ok := rd.byName[f]; !ok {
			return fmt.Errorf("transform: layout %s: required: %q is not a field of record %s", l.Name, f, l.Record)
		}
	}
	return nil
}

type charset int

const (
	csUTF8 charset = iota
	csWindows1252
)

func charsetOf(name string) (charset, error) {
	switch strings.ToLower(name) {
	case "", "utf-8", "utf8":
		return csUTF8, nil
	case "windows-1252", "cp1252":
		return csWindows1252, nil
	}
	return 0, fmt.Errorf("charset %q not utf-8 or windows-1252", name)
}

// checkDateFormat checks that a layout reads back the day, month and year it writes, of this
// century and of the last: a two-digit year ("02-01-06") writes a birth date of 1950 as one
// that reads back as 2050.
func checkDateFormat(layout string) error {
	if layout == "" {
		return nil
	}
	for _, want := range []time.Time{time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(1950, 3, 1, 0, 0, 0, 0, time.UTC)} {
		if got, err := time.Parse(layout, want.Format(layout)); err != nil || !got.Equal(want) {
			return fmt.Errorf("date format %q does not hold a day, month and year with its century", layout)
		}
	}
	return nil
}

// isBSNHeader reports whether a header names a citizen service number: bsn, BSN-nummer,
// debiteur_bsn, burgerservicenummer, Burger Service Nr, sofinummer, SoFi-nr, citizen service
// number, B.S.N., and the like. Words that merely contain the letters (jobsnumber) do not match,
// nor do words that only run into them when joined: a name in a file without a header line is
// read as a header, and "B. Snel" or "Jacobs N." names no BSN.
func isBSNHeader(h string) bool {
	var all, letters strings.Builder // every word; a run of one-letter words (B.S.N.)
	words := strings.FieldsFunc(strings.ToLower(h), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	})
	bsnWord := func(w string) bool { return strings.HasPrefix(w, "bsn") || strings.HasSuffix(w, "bsn") }
	for _, w := range words {
		switch w {
		case "bsn", "bsnr", "sofi", "sofinr", "sofinummer", "burgerservicenummer", "burgerservicenr":
			return true
		}
		all.WriteString(w)
		if len(w) == 1 {
			letters.WriteString(w)
			continue
		}
		if bsnWord(w) || bsnWord(letters.String()) {
			return true
		}
		letters.Reset()
	}
	if bsnWord(letters.String()) {
		return true
	}
	s := all.String()
	for _, p := range []string{"burgerservice", "sofinummer", "sofinr", "citizenservicenumber"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// limiter stops the input once the reader is more than MaxRecordBytes past the end of the last row
// it returned, so a hostile row (an unclosed quote, a 10 MB cell) cannot take memory with it.
type limiter struct {
	r    io.Reader
	n    int64 // bytes handed out
	mark int64 // offset of the end of the last row read
}

const readBuffer = 64 << 10

func (l *limiter) Read(p []byte) (int, error) {
	left := l.mark + MaxRecordBytes + readBuffer - l.n
	if left <= 0 {
		return 0, errRecordTooLong
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// openInput decodes the input to UTF-8: a byte order mark wins over the layout's charset (UTF-8,
// or UTF-16 as Excel's "Unicode text" writes it); otherwise the layout's charset is used. UTF-8
// passes through undecoded: invalid bytes are a row's invalid_encoding, not silently replaced.
func openInput(in io.Reader, cs charset) (*limiter, error) {
	br := bufio.NewReaderSize(in, readBuffer)
	head, err := br.Peek(3)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		r = xtransform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder())
	case cs == csWindows1252:
		r = xtransform.NewReader(br, charmap.Windows1252.NewDecoder())
	}
	return &limiter{r: r}, nil
}

// delimiters are the delimiters a layout may have.
var delimiters = [4]byte{';', ',', '\t', '|'}

// detectDelimiter picks ';', ',', '\t' or '|', whichever occurs most often outside quotes in the
// header line; ',' when none does.
func detectDelimiter(br *bufio.Reader) rune {
	line, _ := firstLine(br, string(delimiters[:]))
	counts := delimiterCounts(line)
	best := 1 // ','
	for i := range delimiters {
		if counts[i] > counts[best] {
			best = i
		}
	}
	return rune(delimiters[best])
}

// firstLine peeks at the first line of br (at most readBuffer bytes of it) that is not blank (see
// blank: nothing but white space and the runes of delims), and returns it with its 1-based number;
// nil when there is none within the buffer.
func firstLine(br *bufio.Reader, delims string) ([]byte, int) {
	b, _ := br.Peek(readBuffer)
	for n := 1; len(b) > 0; n++ {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		if !blank(string(line), delims) {
			return line, n
		}
		b = rest
	}
	return nil, 0
}

// delimiterCounts counts each of delimiters outside quotes in line.
func delimiterCounts(line []byte) [4]int {
	var counts [4]int
	quoted := false
	for _, c := range line {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		for i, d := range delimiters {
			if c == d {
				counts[i]++
			}
		}
	}
	return counts
}
