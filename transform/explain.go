package transform

import (
	"strconv"
	"strings"
	"time"
)

// A line of the reject report says, besides its reason code, what was expected instead, in
// Dutch (column verwacht) and in English (column expected), in the creditor's own terms: the
// layout's date format and decimal separator, the header names of its columns. The texts are
// built from the layout and the reason only, never from a cell.

// explainKey is what an explanation depends on besides the layout.
type explainKey struct {
	reason string
	slot   int // record slot of the column, -1 for none
}

// explainer writes the explanations of one layout's reasons.
type explainer struct {
	l     Layout
	rd    *recordDef
	cells int // cells of the header line, for ragged_row
	cache map[explainKey][2]string
}

func newExplainer(l Layout, rd *recordDef) *explainer {
	return &explainer{l: l, rd: rd, cache: map[explainKey][2]string{}}
}

// row returns the Dutch and English explanation of reason for the field in slot (-1: none).
func (x *explainer) row(reason string, slot int) (nl, en string) {
	k := explainKey{reason, slot}
	if e, ok := x.cache[k]; ok {
		return e[0], e[1]
	}
	field, kd := "", kind(255)
	if slot >= 0 {
		field, kd = x.rd.fields[slot].name, x.rd.fields[slot].kind
	}
	nl, en = x.explain(reason, field, kd)
	x.cache[k] = [2]string{nl, en}
	return nl, en
}

func (x *explainer) explain(reason, field string, kd kind) (nl, en string) {
	switch reason {
	case ReasonRaggedRow:
		n := strconv.Itoa(x.cells)
		return "verwacht " + n + " cellen, net als de kopregel", "expected " + n + " cells, as in the header line"
	case ReasonBrokenQuoting:
		return `verwacht aanhalingstekens alleen om een hele cel, en "" voor een aanhalingsteken erin`,
			`expected quotes only around a whole cell, and "" for a quote inside one`
	case ReasonMissingRequired:
		return "verwacht een waarde: dit veld is verplicht", "expected a value: this field is required"
	case ReasonFieldTooLong:
		n := strconv.Itoa(maxLen(kd))
		return "verwacht ten hoogste " + n + " tekens (een letter met accent telt voor twee)",
			"expected at most " + n + " characters (an accented letter counts as two)"
	case ReasonInvalidCharacter:
		return "verwacht tekst zonder tab, regeleinde of ander stuurteken",
			"expected text without a tab, line break or other control character"
	case ReasonInvalidEncoding:
		cs := "UTF-8"
		if c, _ := charsetOf(x.l.Charset); c == csWindows1252 {
			cs = "Windows-1252 (ANSI)"
		}
		return "verwacht tekst in de tekenset " + cs, "expected text in the character set " + cs
	case ReasonInvalidAmount:
		plain, grouped, sep := "1250.50", "1,250.50", "'.'"
		if x.l.Decimal == ',' {
			plain, grouped, sep = "1250,50", "1.250,50", "','"
		}
		return "verwacht een bedrag als " + plain + " of " + grouped + ": decimaalteken " + sep + ", ten hoogste twee decimalen",
			"expected an amount such as " + plain + " or " + grouped + ": decimal separator " + sep + ", at most two decimals"
	case ReasonNegativeAmount:
		return "verwacht een bedrag van 0 of meer", "expected an amount of 0 or more"
	case ReasonInvalidDate:
		layout := x.l.DateFormat
		if layout == "" {
			layout = isoDate.layout
		}
		nlf, enf := datePattern(layout)
		eg := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC).Format(layout)
		nl = "verwacht een datum als " + nlf + " (bijvoorbeeld " + eg + "), jaar 1900 tot 2199"
		en = "expected a date as " + enf + " (for example " + eg + "), year 1900 to 2199"
		if field == "birth_date" {
			nl, en = nl+", niet in de toekomst", en+", not in the future"
		}
		return nl, en
	case ReasonInvalidIBAN:
		return "verwacht een geldig IBAN, zoals NL02ABNA0123456789", "expected a valid IBAN, such as NL02ABNA0123456789"
	case ReasonInvalidPostcode:
		return "verwacht een Nederlandse postcode als 1000 AA", "expected a Dutch postcode such as 1000 AA"
	case ReasonInvalidPhone:
		return "verwacht een telefoonnummer als 0701234567, +31701234567 of 0032...",
			"expected a phone number such as 0701234567, +31701234567 or 0032..."
	case ReasonInvalidEmail:
		return "verwacht een e-mailadres als naam@voorbeeld.nl", "expected an e-mail address such as name@example.com"
	case ReasonInvalidKvK:
		return "verwacht een KvK-nummer van 8 cijfers", "expected a Chamber of Commerce (KvK) number of 8 digits"
	case ReasonInvalidBTWID:
		return "verwacht een geldig btw-id: NL, 9 cijfers, B, 2 cijfers, met kloppend controlegetal",
			"expected a valid VAT id: NL, 9 digits, B, 2 digits, with a valid check number"
	case ReasonInvalidStatusCode:
		return "verwacht een statuscode van letters, cijfers, . _ of -, ten hoogste 32 tekens",
			"expected a status code of letters, digits, . _ or -, at most 32 characters"
	case ReasonDuplicateRef:
		return "verwacht elke referentie één keer per bestand; deze kwam eerder voor",
			"expected each reference once in a file; this one came before"
	case ReasonTotalRow:
		return "verwacht geen totaalregel: laat totalen weg; deze regel is niet ingelezen",
			"expected no total row: leave totals out; this row was not read"
	case ReasonPossibleBSN:
		return "verwacht geen burgerservicenummer (BSN): dat mogen wij niet verwerken",
			"expected no citizen service number (BSN): we may not process one"

	case ReasonEmptyFile:
		return "verwacht een kopregel met kolomnamen en rijen daaronder", "expected a header line of column names, and rows below it"
	case ReasonInvalidHeader:
		return "verwacht een leesbare kopregel met kolomnamen", "expected a readable header line of column names"
	case ReasonMissingColumn:
		// The caller names the column; see missingColumn.
		return "verwacht deze kolom in de kopregel", "expected this column in the header line"
	case ReasonDuplicateColumn:
		return "verwacht elke kolom één keer in de kopregel", "expected each column once in the header line"
	case ReasonUnclosedQuote:
		return "verwacht bij elk openend aanhalingsteken een sluitend", "expected every opening quote to be closed"
	case ReasonRecordTooLong:
		return "verwacht rijen van ten hoogste 1 MB", "expected rows of at most 1 MB"
	case ReasonBSNColumn:
		return "verwacht geen kolom met burgerservicenummers (BSN): het hele bestand is geweigerd",
			"expected no column of citizen service numbers (BSN): the whole file is rejected"
	case ReasonBSNInBTWID:
		return "verwacht geen oud btw-nummer van een persoon: dat bevat het BSN; het hele bestand is geweigerd",
			"expected no legacy VAT number of a natural person: it holds their BSN; the whole file is rejected"
	case ReasonUnaccounted:
		return "verwacht een bestand waarvan elke regel te lezen is; neem contact met ons op",
			"expected a file whose every line can be read; please contact us"
	case ReasonNoRows:
		return "verwacht ten minste één rij met gegevens onder de kopregel", "expected at least one row of data below the header line"
	case ReasonWrongDelimiter:
		// The caller adds what was found; see wrongDelimiter.
		d := delimiterName(x.delimiter())
		return "verwacht scheidingsteken " + d, "expected delimiter " + d
	}
	return "", ""
}

// delimiter is the layout's delimiter, ',' when it has none.
func (x *explainer) delimiter() rune {
	if x.l.Delimiter == 0 {
		return ','
	}
	return x.l.Delimiter
}

// missingColumn explains a missing column named by the creditor's headers (the layout's
// source headers of the field, or the canonical name).
func (x *explainer) missingColumn(headers []string) (nl, en string) {
	q := make([]string, len(headers))
	for i, h := range headers {
		q[i] = strconv.Quote(h)
	}
	return "verwacht een kolom met de kop " + strings.Join(q, " of "),
		"expected a column headed " + strings.Join(q, " or ")
}

// wrongDelimiter explains a header line that is not split by the layout's delimiter; found is
// the delimiter the line seems to use, 0 when none.
func (x *explainer) wrongDelimiter(found rune) (nl, en string) {
	nl, en = x.explain(ReasonWrongDelimiter, "", 0)
	if found == 0 {
		return nl + ", maar de kopregel heeft geen scheidingsteken", en + ", but the header line has none"
	}
	return nl + ", gevonden " + delimiterName(found), en + ", found " + delimiterName(found)
}

// delimiterName names a delimiter in a report: ';' or tab.
func delimiterName(d rune) string {
	if d == '\t' {
		return "tab"
	}
	return "'" + string(d) + "'"
}

// maxLen is the longest cell a field of kind k takes, in bytes.
func maxLen(k kind) int {
	switch k {
	case kindText:
		return maxText
	case kindCode:
		return maxCode
	case kindEmail:
		return maxEmail
	}
	return maxRef
}

// datePattern writes a Go date layout as a person reads it, in Dutch and English:
// 02-01-2006 is dd-mm-jjjj and dd-mm-yyyy.
func datePattern(layout string) (nl, en string) {
	var n, e strings.Builder
	for i := 0; i < len(layout); {
		tok, tn, te := "", "", ""
		for _, t := range datePatternTokens {
			if strings.HasPrefix(layout[i:], t[0]) {
				tok, tn, te = t[0], t[1], t[2]
				break
			}
		}
		if tok == "" {
			n.WriteByte(layout[i])
			e.WriteByte(layout[i])
			i++
			continue
		}
		n.WriteString(tn)
		e.WriteString(te)
		i += len(tok)
	}
	return n.String(), e.String()
}

// datePatternTokens are the Go layout elements of a date: layout, Dutch, English; longest first.
var datePatternTokens = [][3]string{
	{"January", "maand", "month"}, {"Monday", "weekdag", "weekday"},
	{"2006", "jjjj", "yyyy"}, {"Jan", "mnd", "mon"}, {"Mon", "wkd", "wkd"},
	{"01", "mm", "mm"}, {"02", "dd", "dd"}, {"_2", "d", "d"}, {"06", "jj", "yy"},
	{"1", "m", "m"}, {"2", "d", "d"},
}
