package transform

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	xtransform "golang.org/x/text/transform"
)

// Format is how one recipient wants its file written.
type Format struct {
	Delimiter  rune              // ';' ',' '\t' '|'; 0 = ','
	Charset    string            // "utf-8" | "utf-8-bom" (for Excel) | "windows-1252"; "" = utf-8
	Decimal    rune              // ',' or '.'; 0 = '.'
	DateFormat string            // Go time layout; "" = "2006-01-02"
	Header     map[string]string // canonical field -> header name written; nil = canonical names
}

// Validate checks the format, naming the first thing wrong.
func (f Format) Validate() error {
	switch f.Delimiter {
	case 0, ';', ',', '\t', '|':
	default:
		return fmt.Errorf("transform: format: delimiter %q not one of ; , tab |", f.Delimiter)
	}
	switch strings.ToLower(f.Charset) {
	case "", "utf-8", "utf8", "utf-8-bom", "windows-1252", "cp1252":
	default:
		return fmt.Errorf("transform: format: charset %q not utf-8, utf-8-bom or windows-1252", f.Charset)
	}
	switch f.Decimal {
	case 0, '.', ',':
	default:
		return fmt.Errorf("transform: format: decimal %q not , or .", f.Decimal)
	}
	if err := checkDateFormat(f.DateFormat); err != nil {
		return fmt.Errorf("transform: format: %w", err)
	}
	for field := range f.Header {
		if !isField(field) {
			return fmt.Errorf("transform: format: header: %q is not a canonical field", field)
		}
	}
	return nil
}

// Output is one file written by Process.
type Output struct {
	W       io.Writer
	Profile Profile
	Format  Format
	// Subject, when not nil, is called with the creditor field ("" when the row or the file has
	// none), the debtor reference and the case reference ("" when the row or the file has none)
	// of every row written that has a debtor reference (it may repeat one), for the ledger's
	// disclosure records.
	Subject func(creditor, debtorRef, caseRef string)
}

// outCol is one column of an output: the record slot it is written from.
type outCol struct {
	slot int
	kind kind
}

type outWriter struct {
	out    Output
	cols   []outCol
	dec    byte
	date   dateLayout
	bw     *bufio.Writer
	comma  byte
	enc    io.WriteCloser // the charset encoder, closed at the end; nil for UTF-8
	header []string
	row    []byte // the row being built, reused
}

// outBuffer is the size of an output's write buffer.
const outBuffer = 64 << 10

func newOutWriter(o Output, rd *recordDef) (*outWriter, error) {
	if o.W == nil {
		return nil, fmt.Errorf("transform: output %s: no writer", o.Profile.Name)
	}
	if err := o.Format.Validate(); err != nil {
		return nil, err
	}
	for _, f := range o.Profile.Fields {
		if !isField(f) {
			return nil, fmt.Errorf("transform: profile %s: %q is not a canonical field", o.Profile.Name, f)
		}
	}
	w := &outWriter{out: o, dec: '.', date: isoDate}
	if o.Format.Decimal == ',' {
		w.dec = ','
	}
	if o.Format.DateFormat != "" {
		w.date = compileDate(o.Format.DateFormat)
	}
	var header []string
	for i, f := range rd.fields {
		if !o.Profile.allows(f.name) {
			continue
		}
		w.cols = append(w.cols, outCol{slot: i, kind: f.kind})
		h := f.name
		if name, ok := o.Format.Header[f.name]; ok {
			h = name
		}
		header = append(header, h)
	}
	if len(w.cols) == 0 {
		return nil, fmt.Errorf("transform: profile %s allows no field of record %s", o.Profile.Name, rd.name)
	}
	dst := o.W
	switch strings.ToLower(o.Format.Charset) {
	case "windows-1252", "cp1252":
		// A character windows-1252 lacks is written as '?': rejecting a debtor's row because
		// of a letter in their name would serve no one.
		w.enc = xtransform.NewWriter(o.W, encoding.ReplaceUnsupported(charmap.Windows1252.NewEncoder()))
		dst = w.enc
	}
	w.bw = bufio.NewWriterSize(dst, outBuffer)
	w.comma = ','
	if o.Format.Delimiter != 0 {
		w.comma = byte(o.Format.Delimiter) // Validate allows ASCII delimiters only
	}
	w.header = header
	return w, nil
}

// start writes the output's byte order mark, if its format wants one, and its header line.
func (w *outWriter) start() error {
	if strings.EqualFold(w.out.Format.Charset, "utf-8-bom") {
		if _, err := io.WriteString(w.out.W, "\uFEFF"); err != nil {
			return err
		}
	}
	_, err := w.bw.Write(appendRecord(nil, w.header, w.comma))
	return err
}

// write writes one good row from the record slots (empty marks the cells that were empty).
//
// Only free text (Text, Ref, Email) and dates in a layout other than digits and separators can
// hold what a CSV field must be quoted for. Every other value of a row that passed is in its
// stored form, made of letters, digits, '+' and inner spaces (IBAN, Postcode, Phone, KvK, BTWID,
// Code), or digits, '-' and the decimal mark (Amount): quoted only when that mark is the
// delimiter. TestOutputQuotingMatchesEncodingCSV holds the shortcut to encoding/csv's Writer.
func (w *outWriter) write(slots []any, empty []bool) error {
	b := w.row[:0]
	for i, c := range w.cols {
		if i > 0 {
			b = append(b, w.comma)
		}
		switch v := slots[c.slot]; c.kind {
		case kindText:
			b = appendField(b, neutralize(string(*v.(*Text))), w.comma)
		case kindRef:
			b = appendField(b, neutralize(string(*v.(*Ref))), w.comma)
		case kindEmail:
			b = appendField(b, neutralize(string(*v.(*Email))), w.comma)
		case kindAmount:
			if empty[c.slot] {
				break
			}
			if w.dec == w.comma {
				b = append(b, '"')
				b = append(appendAmount(b, *v.(*Amount), w.dec), '"')
				break
			}
			b = appendAmount(b, *v.(*Amount), w.dec)
		case kindDate:
			if d := *v.(*Date); !d.IsZero() {
				start := len(b)
				b = w.date.appendDate(b, d)
				if !w.date.fast {
					b = quoteTail(b, start, w.comma)
				}
			}
		case kindCode:
			b = append(b, *v.(*Code)...)
		case kindIBAN:
			b = append(b, *v.(*IBAN)...)
		case kindPostcode:
			b = append(b, *v.(*Postcode)...)
		case kindPhone:
			b = append(b, *v.(*Phone)...)
		case kindKvK:
			b = append(b, *v.(*KvK)...)
		case kindBTWID:
			b = append(b, *v.(*BTWID)...)
		}
	}
	b = append(b, '\n')
	w.row = b
	_, err := w.bw.Write(b)
	return err
}

func (w *outWriter) close() error {
	err := w.bw.Flush()
	if w.enc != nil {
		if cerr := w.enc.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// neutralize defuses formula injection (OWASP "CSV injection"): a cell whose first character after
// leading spaces is = + - @ tab or CR, or their full-width forms, gets a leading single quote so a
// spreadsheet shows it as text instead of evaluating it.
func neutralize(s string) string {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i == len(s) {
		return s
	}
	switch s[i] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	case 0xEF: // U+FF0B ＋, U+FF0D －, U+FF1D ＝, U+FF20 ＠
		switch r, _ := utf8.DecodeRuneInString(s[i:]); r {
		case '\uFF0B', '\uFF0D', '\uFF1D', '\uFF20':
			return "'" + s
		}
	}
	return s
}
