package transform

import "math"

// A BSN is nine digits passing the 11-proef (elevenProof). Headers are one way a file shows that
// it carries them (isBSNHeader); values are the other, checked here in two ways:
//
//   - in a cell: a free-text field (name, street, house_number, city) that holds a group of nine
//     digits passing the 11-proef, written together or split by single dots, spaces or hyphens
//     ("123456782", "1234.56.782"), rejects its row as possible_bsn; so does any of these fields,
//     a reference, an e-mail address or a column no field takes where such a number, or one of
//     eight digits that passes with its leading 0 put back, stands with the word bsn, sofi or
//     burgerservice (a field of any other type has a shape that a BSN in it fails). A reference
//     or an invoice number of nine digits passes the 11-proef one time in eleven by chance, so a
//     number alone there says nothing.
//   - in a column: see bsnColumn.

// bsnInText reports whether s holds a group of nine digits passing the 11-proef.
func bsnInText(s string) bool { return bsnDigits(s, false) }

// bsnDigits reports whether s holds a group of nine digits passing the 11-proef, or, with eight,
// a group of eight that passes it as nine with the leading 0 put back: a BSN that begins with 0
// often loses it (a spreadsheet drops it), as bsnColumn counts too.
func bsnDigits(s string, eight bool) bool {
	var d [9]byte
	for i := 0; i < len(s); {
		if i+8 <= len(s) && !hasDigit(word8(s, i)) {
			i += 8 // eight bytes without a digit
			continue
		}
		if !isDigit(s[i]) {
			i++
			continue
		}
		n, j := digitGroup(s, i, &d)
		if n == 9 && elevenProof(d[:]) {
			return true
		}
		if eight && n == 8 {
			copy(d[1:], d[:8])
			d[0] = '0'
			if elevenProof(d[:]) {
				return true
			}
		}
		i = j
	}
	return false
}

// digitGroup reads the group of digits that starts at s[i], a digit: digits with single dots,
// spaces or hyphens between them ("1234.56.782", "123 456 782", "123-456-782"). It returns how
// many digits the group has, its first len(d) digits in d, and the index just past the group.
func digitGroup(s string, i int, d *[9]byte) (n, end int) {
	j := i
	for j < len(s) {
		if isDigit(s[j]) {
			if n < len(d) {
				d[n] = s[j]
			}
			n++
			j++
			continue
		}
		if (s[j] == '.' || s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) {
			j++
			continue
		}
		break
	}
	return n, j
}

// bsnNamed reports whether s holds a number passing the 11-proef, of nine digits or of eight
// without its leading 0, and a word that names a BSN.
func bsnNamed(s string) bool {
	if !bsnDigits(s, true) {
		return false
	}
	return containsFold(s, "bsn") || containsFold(s, "sofi") || containsFold(s, "burgerservice")
}

// containsFold is strings.Contains without regard to ASCII case, allocating nothing; sub is
// lower-case ASCII letters. (strings.EqualFold of sub and a slice of s as long reads the same:
// a rune beyond ASCII that folds to a letter of sub is longer than one byte.)
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && s[i+j]|0x20 == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

// A column holds BSNs when both hold:
//
//   - most of it: more than half of its non-empty cells are BSN-shaped (eight or nine digits,
//     written together or split by single dots, spaces or hyphens: "1234.56.782") and pass the
//     11-proef;
//   - not by chance: among its distinct BSN-shaped values (numbers, whatever their separators;
//     the first bsnWindow of them), so many pass that random numbers, of which one in eleven
//     passes, would do so less than once in a million (bsnChance): 6 of 6, 7 of 7 or 8, 8 of 9
//     to 11, 9 of 12 to 14, 10 of 15 to 18, ...
//
// The second keeps a column of random invoice numbers, or one number repeated on every row (a
// creditor's own customer number that happens to pass), from being taken for BSNs; it also means
// that a file with fewer than six different BSNs in a column is not caught by its values.
const (
	bsnWindow = 256
	bsnChance = 1e-6
)

// bsnColumn gathers the evidence of one source column.
type bsnColumn struct {
	values   int             // non-empty cells
	passed   int             // BSN-shaped cells passing the 11-proef
	line     int             // the first line with such a cell
	distinct map[uint64]bool // BSN-shaped values seen -> passes, up to bsnWindow of them
}

// add adds a non-empty cell on line. A cell counts as BSN-shaped by its digits: written together
// or split by single dots, spaces or hyphens, as bsnInText reads them ("1234.56.782"), so that
// the value counted among the distinct ones is the number, whatever its separators. The digits
// are read as digitGroup reads them and weighed as bsnValue weighs them, in one pass.
func (c *bsnColumn) add(cell string, line int) {
	c.values++
	// Eight or nine digits and at most eight separators between them.
	if len(cell) < 8 || len(cell) > 17 || !isDigit(cell[0]) {
		return
	}
	var v uint64
	n, sum, weighted, last := 0, 0, 0, 0 // digits; their sum; the sum of each times its index
	for j := 0; j < len(cell); j++ {
		ch := cell[j]
		if isDigit(ch) {
			if n == 9 {
				return // a tenth digit
			}
			last = int(ch - '0')
			v = v*10 + uint64(last)
			sum += last
			weighted += n * last
			n++
			continue
		}
		if (ch == '.' || ch == ' ' || ch == '-') && j+1 < len(cell) && isDigit(cell[j+1]) {
			continue
		}
		return // something else than the group's digits
	}
	if n < 8 {
		return
	}
	// The 11-proef: digit i of n weighs n-i, the last -1.
	proef := n*(sum-last) - (weighted - (n-1)*last) - last
	c.addShaped(v, proef%11 == 0 && proef != 0, line)
}

// addShaped adds a BSN-shaped cell's number v, which passes the 11-proef or not.
func (c *bsnColumn) addShaped(v uint64, pass bool, line int) {
	if pass {
		c.passed++
		if c.line == 0 {
			c.line = line
		}
	}
	if c.distinct == nil {
		c.distinct = make(map[uint64]bool)
	}
	if len(c.distinct) < bsnWindow {
		c.distinct[v] = pass
	}
}

// holdsBSN decides, once every row is read.
func (c *bsnColumn) holdsBSN() bool {
	if 2*c.passed <= c.values {
		return false
	}
	n, k := len(c.distinct), 0
	for _, pass := range c.distinct {
		if pass {
			k++
		}
	}
	return binomialTail(n, k, 1.0/11) < bsnChance
}

// binomialTail is the chance of k or more successes in n trials of chance p.
func binomialTail(n, k int, p float64) float64 {
	sum := 0.0
	for j := k; j <= n; j++ {
		lc, _ := math.Lgamma(float64(n + 1))
		lj, _ := math.Lgamma(float64(j + 1))
		lnj, _ := math.Lgamma(float64(n - j + 1))
		sum += math.Exp(lc - lj - lnj + float64(j)*math.Log(p) + float64(n-j)*math.Log1p(-p))
	}
	return sum
}
