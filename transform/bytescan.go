package transform

// Eight bytes at a time: free-text cells are checked byte by byte (checkText) and scanned again
// for what a CSV field must be quoted for (needsQuotes); most of them are plain printable
// ASCII, which a word of eight bytes can show at once. A word that shows anything else goes to a
// byte-by-byte loop, which decides. TestByteScan holds them to plain loops.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// word8 reads s[i:i+8] as a little-endian word.
func word8[T string | []byte](s T, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// hasLess reports whether a byte of x is less than n (n ≤ 128).
func hasLess(x uint64, n byte) bool { return (x-ones*uint64(n))&^x&highs != 0 }

// hasByte reports whether a byte of x is c.
func hasByte(x uint64, c byte) bool { return hasLess(x^(ones*uint64(c)), 1) }

// plainText reports whether s holds nothing but printable ASCII (0x20..0x7e), eight bytes at a
// time; false says only that the fast path does not decide.
func plainText(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := word8(s, i)
		if x&highs != 0 || hasLess(x, 0x20) || hasByte(x, 0x7f) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// quoteFree reports whether s holds no LF, CR, quote or comma: a word of eight bytes at a time,
// and byte by byte the words that may hold one.
func quoteFree[T string | []byte](s T, comma byte) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := word8(s, i)
		if hasLess(x, '\r'+1) || hasByte(x, '"') || hasByte(x, comma) {
			break
		}
	}
	for ; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r', '"', comma:
			return false
		}
	}
	return true
}

// hasDigit reports whether a byte of x is an ASCII digit: with its top bit clear, at least '0'
// and not at least '9'+1.
func hasDigit(x uint64) bool {
	y := x &^ highs
	return (y+ones*(0x80-'0'))&^(y+ones*(0x80-'9'-1))&^x&highs != 0
}
