package transform

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// The validators were made cheaper without changing what they accept, reject or return. The
// reference versions below are the earlier code, kept to hold the new code to it: on a table of
// edge cases, on random strings from an alphabet of the bytes that matter, and under fuzzing
// (FuzzValidatorsMatchReference).

func refParsePostcode(s string) (Postcode, string) {
	orig := s
	if len(s) == 7 && s[4] == ' ' {
		s = s[:4] + s[5:]
	}
	if len(s) != 6 || s[0] < '1' || s[0] > '9' || !isDigit(s[1]) || !isDigit(s[2]) || !isDigit(s[3]) {
		return "", ReasonInvalidPostcode
	}
	l := [2]byte{s[4] &^ 0x20, s[5] &^ 0x20}
	if !isUpper(l[0]) || !isUpper(l[1]) {
		return "", ReasonInvalidPostcode
	}
	switch string(l[:]) {
	case "SA", "SD", "SS":
		return "", ReasonInvalidPostcode
	}
	if len(orig) == 7 && orig[5:] == string(l[:]) {
		return Postcode(orig), ""
	}
	return Postcode(s[:4] + " " + string(l[:])), ""
}

func refContainsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// refIBANLength is the earlier lookup of an IBAN's length; the rest of parseIBAN is unchanged.
func refIBANLength(b []byte) (int, bool) {
	n, ok := ibanLengths[string(b[:2])]
	return n, ok
}

// refLocalByte is the earlier test of a byte of an e-mail address's local part.
func refLocalByte(c byte) bool {
	return !(c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),:;<>@[\]`, c) >= 0)
}

func refBlank(s, delims string) bool {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(delims, r) }) == ""
}

var equivCases = []string{
	"", " ", "1234AB", "1234 AB", "1234 ab", "1234ab", "1234 aB", "0123AB", "1234SA", "1234 sd", "1234  AB",
	"1234-AB", "12345AB", "1234 A", "1234 A1", "9999ZZ", "1234\x00AB", "1234 \xc3\xa9", "1234{B", "1234 `B",
	"bsn", "BSN 123456782", "xbSnx", "sofi", "SoFi", "burgerservice", "BurgerServiceNummer", "\u017fofi",
	"\u212asn", "bs", "b\xffsn", "NL91ABNA0417164300", "nl91 abna 0417 1643 00", "XX00", "ZZ12345678901234",
	"a@b.nl", "a b@c.nl", "\"a\"@b.nl", "a(b)@c.nl", "\t", "\u00a0", "\u2003", ";;", " ; ", "\u0085",
}

func equivCheck(t testing.TB, s string) {
	if got, want := fmtPair(parsePostcode(s)), fmtPair(refParsePostcode(s)); got != want {
		t.Errorf("parsePostcode(%q) = %s, was %s", s, got, want)
	}
	for _, sub := range []string{"bsn", "sofi", "burgerservice"} {
		if got, want := containsFold(s, sub), refContainsFold(s, sub); got != want {
			t.Errorf("containsFold(%q, %q) = %v, was %v", s, sub, got, want)
		}
	}
	if len(s) >= 2 && isUpper(s[0]) && isUpper(s[1]) {
		want, ok := refIBANLength([]byte(s))
		if got := int(ibanLength[s[0]-'A'][s[1]-'A']); got != want || (got != 0) != ok {
			t.Errorf("ibanLength[%q] = %d, was %d", s[:2], got, want)
		}
	}
	for _, delims := range []string{"", string(delimiters[:])} {
		if got, want := blank(s, delims), refBlank(s, delims); got != want {
			t.Errorf("blank(%q, %q) = %v, was %v", s, delims, got, want)
		}
	}
}

func fmtPair[T ~string](v T, reason string) string { return string(v) + "|" + reason }

// TestValidatorsMatchReference: the cheaper validators decide and return what the earlier ones
// did.
func TestValidatorsMatchReference(t *testing.T) {
	for c := 0; c < 256; c++ {
		if got, want := localByte[c], refLocalByte(byte(c)); got != want {
			t.Errorf("localByte[%#x] = %v, was %v", c, got, want)
		}
	}
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			equivCheck(t, string([]rune{a, b}))
		}
	}
	for _, s := range equivCases {
		equivCheck(t, s)
	}
	rng := rand.New(rand.NewSource(1))
	alpha := []string{"1", "2", "0", "9", " ", "a", "A", "b", "B", "s", "S", "n", "N", "o", "f", "i", "I", "z", "Z", ";",
		"\t", "\u00a0", "\u017f", "\u212a", "\xff", "\u2003", "\u0085", "@", "."}
	for range 200_000 {
		var b strings.Builder
		for n := rng.Intn(9); n > 0; n-- {
			b.WriteString(alpha[rng.Intn(len(alpha))])
		}
		equivCheck(t, b.String())
	}
}

func FuzzValidatorsMatchReference(f *testing.F) {
	for _, s := range equivCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { equivCheck(t, s) })
}

// TestByteScan: the word-at-a-time scans decide as byte-by-byte loops do, wherever in a word
// the byte that matters stands.
func TestByteScan(t *testing.T) {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] >= 0x7f {
				return false
			}
		}
		return true
	}
	free := func(s string, comma byte) bool {
		return !strings.ContainsAny(s, "\r\n\"") && strings.IndexByte(s, comma) < 0
	}
	for n := 0; n <= 19; n++ {
		for at := 0; at < max(n, 1); at++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("aZ 9~!", 4)[:n])
				if n > 0 {
					b[at] = byte(c)
				}
				s := string(b)
				// A plainText true must be right; false only sends checkText to its loop.
				if plainText(s) != plain(s) {
					t.Fatalf("plainText(%q) = %v", s, plainText(s))
				}
				for _, comma := range delimiters {
					if quoteFree(s, comma) != free(s, comma) || quoteFree(b, comma) != free(s, comma) {
						t.Fatalf("quoteFree(%q, %q) = %v", s, comma, quoteFree(s, comma))
					}
				}
			}
		}
	}
}

// TestHasDigit: hasDigit finds a digit in any byte of a word, beside any other bytes.
func TestHasDigit(t *testing.T) {
	check := func(b []byte) {
		if got, want := hasDigit(word8(b, 0)), strings.ContainsAny(string(b), "0123456789"); got != want {
			t.Fatalf("hasDigit(%q) = %v", b, got)
		}
	}
	for at := range 8 {
		for c := range 256 {
			b := []byte("abcdefgh")
			b[at] = byte(c)
			check(b)
		}
	}
	rng := rand.New(rand.NewSource(1))
	for range 1_000_000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(rng.Intn(256))
			if rng.Intn(2) == 0 {
				b[i] = byte('/' + rng.Intn(12)) // around the digits
			}
		}
		check(b[:])
	}
}

// refBSNAdd is the earlier bsnColumn.add: the group read by digitGroup, then weighed by bsnValue.
// (What it then counts was not changed.)
func refBSNAdd(c *bsnColumn, cell string, line int) {
	c.values++
	if len(cell) < 8 || len(cell) > 17 || !isDigit(cell[0]) {
		return
	}
	var d [9]byte
	n, end := digitGroup(cell, 0, &d)
	if end != len(cell) || (n != 8 && n != 9) {
		return
	}
	v, pass, _ := bsnValue(d[:n])
	c.addShaped(v, pass, line) // the counting, unchanged
}

// TestBSNColumnAddMatchesReference: a column fed the same cells gathers the same evidence as
// with the earlier add, for cells of every shape near a BSN's.
func TestBSNColumnAddMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	alpha := "0123456789012345678901234567890123456789.- x"
	for col := range 400 {
		var got, want bsnColumn
		for line := 1; line <= 400; line++ {
			var b []byte
			n := 7 + rng.Intn(12)
			if col%4 == 0 {
				n = 8 + rng.Intn(2) // plain numbers: many pass, so the window fills
			}
			for range n {
				b = append(b, alpha[rng.Intn(len(alpha)-4*(col%2)*1)])
			}
			got.add(string(b), line)
			refBSNAdd(&want, string(b), line)
		}
		for _, s := range []string{"123456782", "1234.56.782", "12345678", "1-2-3-4-5-6-7-8-2", "123456782-", "1234567820", "01234567"} {
			got.add(s, 500)
			refBSNAdd(&want, s, 500)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("column %d: evidence %+v, was %+v", col, got, want)
		}
	}
}
