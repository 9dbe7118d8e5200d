package transform

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The field types of the canonical records. Process parses each cell into its field's type in the
// layout's notation and writes it in the recipient's; a value that fails is rejected with a reason
// code, never echoed.
type (
	// Text is free text (a name, a street): at most 200 bytes of UTF-8, no control characters.
	// It is neutralized against formula injection when written.
	Text string
	// Ref is a reference (case, creditor, debtor, invoice number): free text of at most 64 bytes.
	Ref string
	// Code is a status code: a letter or digit, then letters, digits, '.', '_' or '-'; at most 32.
	Code string
	// Amount is an amount of euros in cents. It keeps its sign.
	Amount int64
	// IBAN is an account number (ISO 13616), stored compact and upper case: NL91ABNA0417164300.
	IBAN string
	// Postcode is a Dutch postcode, stored as "1234 AB".
	Postcode string
	// Phone is a phone number in international form: +31612345678.
	Phone string
	// Email is an e-mail address.
	Email string
	// KvK is a Chamber of Commerce (Kamer van Koophandel) number: 8 digits.
	KvK string
	// BTWID is a Dutch VAT id (btw-identificatienummer), stored as NL999999999B99.
	BTWID string
)

// Date is a calendar date; the zero Date is empty.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Limits on free-text cells, in bytes.
const (
	maxText  = 200
	maxRef   = 64
	maxCode  = 32
	maxEmail = 254
)

// IsZero reports whether d is empty.
func (d Date) IsZero() bool { return d == Date{} }

// Time returns d at midnight UTC.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String returns d as "2006-01-02", or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return string(isoDate.appendDate(nil, d))
}

// MarshalCSV returns d.String(). It makes a Date one column to gocsv, which reads the records'
// columns from their tags and would take a struct without it for three (Year, Month, Day).
func (d Date) MarshalCSV() (string, error) { return d.String(), nil }

// String returns a in the canonical notation: a point and two decimals ("1234.56").
func (a Amount) String() string { return string(appendAmount(nil, a, '.')) }

// checkText checks a trimmed free-text cell; it returns a reason code or "".
func checkText(s string, max int) string {
	if plainText(s) {
		if len(s) > max {
			return ReasonFieldTooLong
		}
		return ""
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return ReasonInvalidCharacter
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(s) {
		return ReasonInvalidEncoding
	}
	if len(s) > max {
		return ReasonFieldTooLong
	}
	return ""
}

func checkCode(s string) string {
	if len(s) > maxCode {
		return ReasonFieldTooLong
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c), 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return ReasonInvalidStatusCode
		}
	}
	return ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// maxUnits bounds the euros of an Amount, far below overflow.
const maxUnits = 1_000_000_000_000

// parseAmount reads "-1.234,56" (dec ',') or "-1,234.56" (dec '.'): an optional sign, digits with
// optional thousands separators in groups of three, and at most two decimals.
func parseAmount(s string, dec byte) (Amount, string) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	thou := byte(',')
	if dec == ',' {
		thou = '.'
	}
	var units int64
	digits, group, grouped := 0, 0, false
	i := 0
	for ; i < len(s) && s[i] != dec; i++ {
		c := s[i]
		switch {
		case isDigit(c):
			units = units*10 + int64(c-'0')
			if units > maxUnits {
				return 0, ReasonInvalidAmount
			}
			digits++
			group++
		case c == thou:
			if group == 0 || group > 3 || (grouped && group != 3) {
				return 0, ReasonInvalidAmount
			}
			grouped, group = true, 0
		default:
			return 0, ReasonInvalidAmount
		}
	}
	if digits == 0 || (grouped && group != 3) {
		return 0, ReasonInvalidAmount
	}
	cents := units * 100
	if i < len(s) {
		frac := s[i+1:]
		switch {
		case len(frac) == 1 && isDigit(frac[0]):
			cents += int64(frac[0]-'0') * 10
		case len(frac) == 2 && isDigit(frac[0]) && isDigit(frac[1]):
			cents += int64(frac[0]-'0')*10 + int64(frac[1]-'0')
		default:
			return 0, ReasonInvalidAmount
		}
	}
	if neg {
		cents = -cents
	}
	return Amount(cents), ""
}

// appendAmount writes a as a plain number: sign, euros, dec, two decimals.
func appendAmount(dst []byte, a Amount, dec byte) []byte {
	v := int64(a)
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	dst = strconv.AppendInt(dst, v/100, 10)
	c := v % 100
	return append(dst, dec, byte('0'+c/10), byte('0'+c%10))
}

// dateLayout reads and writes dates in one Go time layout. Layouts made only of 2006, 01 and 02
// with one-byte separators (2006-01-02, 02-01-2006, 20060102, 02/01/2006 ...) take a fast path;
// any other layout goes through package time.
type dateLayout struct {
	layout  string
	fast    bool
	n       int    // length of a date in a fast layout
	y, m, d int    // offsets of year, month, day
	sep     []byte // the layout with digits positions as 0
}

var isoDate = compileDate("2006-01-02")

func compileDate(layout string) dateLayout {
	dl := dateLayout{layout: layout, y: -1, m: -1, d: -1}
	sep := make([]byte, 0, len(layout))
	for i := 0; i < len(layout); {
		switch {
		case strings.HasPrefix(layout[i:], "2006") && dl.y < 0:
			dl.y = len(sep)
			sep = append(sep, 0, 0, 0, 0)
			i += 4
		case strings.HasPrefix(layout[i:], "01") && dl.m < 0:
			dl.m = len(sep)
			sep = append(sep, 0, 0)
			i += 2
		case strings.HasPrefix(layout[i:], "02") && dl.d < 0:
			dl.d = len(sep)
			sep = append(sep, 0, 0)
			i += 2
		case strings.ContainsRune("-/. ", rune(layout[i])):
			sep = append(sep, layout[i])
			i++
		default:
			return dl // not a fast layout
		}
	}
	if dl.y >= 0 && dl.m >= 0 && dl.d >= 0 {
		dl.fast, dl.n, dl.sep = true, len(sep), sep
	}
	return dl
}

func digits2(s string) (int, bool) {
	if !isDigit(s[0]) || !isDigit(s[1]) {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// parse reads a date; years outside 1900..2199 are refused.
func (dl *dateLayout) parse(s string) (Date, string) {
	var d Date
	if dl.fast {
		if len(s) != dl.n {
			return Date{}, ReasonInvalidDate
		}
		for i, c := range dl.sep {
			if c != 0 && s[i] != c {
				return Date{}, ReasonInvalidDate
			}
		}
		y1, ok1 := digits2(s[dl.y:])
		y2, ok2 := digits2(s[dl.y+2:])
		m, ok3 := digits2(s[dl.m:])
		day, ok4 := digits2(s[dl.d:])
		if !ok1 || !ok2 || !ok3 || !ok4 || m < 1 || m > 12 || day < 1 {
			return Date{}, ReasonInvalidDate
		}
		d = Date{Year: y1*100 + y2, Month: time.Month(m), Day: day}
		if day > daysIn(d.Month, d.Year) {
			return Date{}, ReasonInvalidDate
		}
	} else {
		t, err := time.Parse(dl.layout, s)
		if err != nil {
			return Date{}, ReasonInvalidDate
		}
		d = Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}
	}
	if d.Year < 1900 || d.Year > 2199 {
		return Date{}, ReasonInvalidDate
	}
	return d, ""
}

func (dl *dateLayout) appendDate(dst []byte, d Date) []byte {
	if !dl.fast {
		return d.Time().AppendFormat(dst, dl.layout)
	}
	start := len(dst)
	dst = append(dst, dl.sep...)
	b := dst[start:]
	put2 := func(at, v int) { b[at], b[at+1] = byte('0'+v/10), byte('0'+v%10) }
	put2(dl.y, d.Year/100)
	put2(dl.y+2, d.Year%100)
	put2(dl.m, int(d.Month))
	put2(dl.d, d.Day)
	return dst
}

var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func daysIn(m time.Month, year int) int {
	if m == time.February && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return monthDays[m]
}

// ibanLengths holds the IBAN length of the SEPA countries; other countries get 15..34.
var ibanLengths = map[string]int{
	"AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
	"EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
	"IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
	"NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
	"VA": 22,
}

// parseIBAN accepts spaces between groups and lower case, and returns the compact upper-case form.
func parseIBAN(s string) (IBAN, string) {
	var buf [34]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case isDigit(c) || 'A' <= c && c <= 'Z':
		default:
			return "", ReasonInvalidIBAN
		}
		if n == len(buf) {
			return "", ReasonInvalidIBAN
		}
		buf[n] = c
		n++
	}
	b := buf[:n]
	if n < 15 || !isUpper(b[0]) || !isUpper(b[1]) || !isDigit(b[2]) || !isDigit(b[3]) {
		return "", ReasonInvalidIBAN
	}
	if want := ibanLength[b[0]-'A'][b[1]-'A']; want != 0 && n != int(want) {
		return "", ReasonInvalidIBAN
	}
	if string(b[:2]) == "NL" { // NLkk BANK 0123456789
		for i := 4; i < 8; i++ {
			if !isUpper(b[i]) {
				return "", ReasonInvalidIBAN
			}
		}
		for i := 8; i < 18; i++ {
			if !isDigit(b[i]) {
				return "", ReasonInvalidIBAN
			}
		}
	}
	if mod97(b[4:], b[:4]) != 1 {
		return "", ReasonInvalidIBAN
	}
	if n == len(s) && string(b) == s {
		return IBAN(s), ""
	}
	return IBAN(b), ""
}

// ibanLength is ibanLengths by the country's two letters, for a lookup without hashing; 0 = not
// listed.
var ibanLength = func() (t [26][26]uint8) {
	for cc, n := range ibanLengths {
		t[cc[0]-'A'][cc[1]-'A'] = uint8(n)
	}
	return t
}()

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

// mod97 computes the ISO 7064 mod 97-10 remainder of the digits and letters (A=10 ... Z=35) of a
// followed by b.
func mod97(a, b []byte) int {
	r := 0 // kept below 1e15, reduced only then: one division per ~13 digits
	for _, part := range [2][]byte{a, b} {
		for _, c := range part {
			if isDigit(c) {
				r = r*10 + int(c-'0')
			} else {
				r = r*100 + int(c-'A'+10)
			}
			if r >= 1e15 {
				r %= 97
			}
		}
	}
	return r % 97
}

// parsePostcode accepts "1234AB", "1234 ab" and returns "1234 AB".
func parsePostcode(s string) (Postcode, string) {
	letters := 4 // where the letters start: "1234AB", or "1234 AB"
	if len(s) == 7 && s[4] == ' ' {
		letters = 5
	}
	if len(s) != letters+2 || s[0] < '1' || s[0] > '9' || !isDigit(s[1]) || !isDigit(s[2]) || !isDigit(s[3]) {
		return "", ReasonInvalidPostcode
	}
	l := [2]byte{s[letters] &^ 0x20, s[letters+1] &^ 0x20} // upper case
	if !isUpper(l[0]) || !isUpper(l[1]) {
		return "", ReasonInvalidPostcode
	}
	switch string(l[:]) {
	case "SA", "SD", "SS": // never issued
		return "", ReasonInvalidPostcode
	}
	if letters == 5 && s[5] == l[0] && s[6] == l[1] {
		return Postcode(s), "" // already in its stored form
	}
	return Postcode(s[:4] + " " + string(l[:])), ""
}

// parsePhone normalizes a phone number: Dutch "06-12345678", "020 123 4567", "+31 (0)6 ...",
// "0031 6 ..." become +31 and nine digits; other international numbers (+ or 00) keep their
// country code and must have 8 to 15 digits (E.164).
func parsePhone(s string) (Phone, string) {
	var buf [16]byte
	prefix, d, reason := phoneParts(s, &buf)
	if reason != "" {
		return "", reason
	}
	return Phone(prefix + string(d)), ""
}

// phoneParts checks a phone number as parsePhone does and returns its normalized form in two
// parts, "+31" or "+" and then digits in buf, so that a caller that only checks the number
// builds no string.
func phoneParts(s string, buf *[16]byte) (prefix string, digits []byte, reason string) {
	n := 0
	plus := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c):
			if n == len(buf) {
				return "", nil, ReasonInvalidPhone
			}
			buf[n] = c
			n++
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/':
		default:
			return "", nil, ReasonInvalidPhone
		}
	}
	d := buf[:n]
	switch {
	case plus:
	case n > 2 && d[0] == '0' && d[1] == '0':
		d = d[2:]
	case n == 10 && d[0] == '0':
		return "+31", d[1:], ""
	default:
		return "", nil, ReasonInvalidPhone
	}
	if len(d) >= 3 && d[0] == '3' && d[1] == '1' {
		nat := d[2:]
		if len(nat) == 10 && nat[0] == '0' { // +31 (0)6 ...
			nat = nat[1:]
		}
		if len(nat) != 9 || nat[0] == '0' {
			return "", nil, ReasonInvalidPhone
		}
		return "+31", nat, ""
	}
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return "", nil, ReasonInvalidPhone
	}
	return "+", d, ""
}

// checkEmail checks the common shape local@domain.tld: printable ASCII local part without spaces,
// quotes or consecutive dots; domain labels of letters, digits and '-'; a top-level domain of at
// least two letters.
func checkEmail(s string) string {
	if len(s) > maxEmail {
		return ReasonFieldTooLong
	}
	at := strings.IndexByte(s, '@')
	if at < 1 || at > 64 || at == len(s)-1 {
		return ReasonInvalidEmail
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return ReasonInvalidEmail
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !localByte[c] {
			return ReasonInvalidEmail
		}
	}
	labels, label, letters := 0, 0, true
	for i := 0; i <= len(domain); i++ {
		if i == len(domain) || domain[i] == '.' {
			if label == 0 || label > 63 || domain[i-1] == '-' || domain[i-label] == '-' {
				return ReasonInvalidEmail
			}
			labels++
			if i == len(domain) && (!letters || label < 2) {
				return ReasonInvalidEmail
			}
			label, letters = 0, true
			continue
		}
		c := domain[i] | 0x20
		switch {
		case 'a' <= c && c <= 'z':
		case isDigit(domain[i]) || domain[i] == '-':
			letters = false
		default:
			return ReasonInvalidEmail
		}
		label++
	}
	if labels < 2 {
		return ReasonInvalidEmail
	}
	return ""
}

// localByte marks the bytes an e-mail address's local part may hold: printable ASCII but for
// space and "(),:;<>@[\].
var localByte = func() (t [256]bool) {
	for c := '!'; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune(`"(),:;<>@[\]`, c)
	}
	return t
}()

func checkKvK(s string) string {
	if len(s) != 8 {
		return ReasonInvalidKvK
	}
	for i := 0; i < 8; i++ {
		if !isDigit(s[i]) {
			return ReasonInvalidKvK
		}
	}
	return ""
}

// parseBTWID accepts spaces, dots and lower case and returns NL999999999B99. A number that passes
// the mod-97 check is a current btw-id; one that passes only the 11-proof of its nine digits is a
// legacy number (legacy is true), built from an RSIN or, for a natural person, from a BSN.
func parseBTWID(s string) (id BTWID, legacy bool, reason string) {
	var buf [14]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '.' {
			continue
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if n == len(buf) {
			return "", false, ReasonInvalidBTWID
		}
		buf[n] = c
		n++
	}
	b := buf[:n]
	if n != 14 || b[0] != 'N' || b[1] != 'L' || b[11] != 'B' {
		return "", false, ReasonInvalidBTWID
	}
	for _, i := range [...]int{2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13} {
		if !isDigit(b[i]) {
			return "", false, ReasonInvalidBTWID
		}
	}
	if b[12] == '0' && b[13] == '0' {
		return "", false, ReasonInvalidBTWID
	}
	legacy = mod97(b, nil) != 1
	if legacy && !elevenProof(b[2:11]) {
		return "", false, ReasonInvalidBTWID
	}
	if string(b) == s {
		return BTWID(s), legacy, ""
	}
	return BTWID(b), legacy, ""
}

// elevenProof is the 11-test of a BSN or RSIN: 9·d1 + 8·d2 + ... + 2·d8 − d9 ≡ 0 (mod 11).
func elevenProof(d []byte) bool {
	sum := 0
	for i := 0; i < 8; i++ {
		sum += (9 - i) * int(d[i]-'0')
	}
	sum -= int(d[8] - '0')
	return sum%11 == 0 && sum != 0
}
