package transform

// bsnValue parses a whole cell that is BSN-shaped: nine digits, or eight (Excel drops the
// leading zero of a number), and reports whether it passes the 11-proef. ok is false for a cell
// of any other shape. A cell written with separators is read by bsnColumn.add, which gives
// bsnValue its digits. It is the plain 11-proef that bsnColumn.add's one-pass sum is checked
// against (TestBSNColumnAddMatchesReference, FuzzValidatorsMatchReference).
func bsnValue[T string | []byte](s T) (v uint64, pass, ok bool) {
	if len(s) != 8 && len(s) != 9 {
		return 0, false, false
	}
	// The 11-proef's weights 9..2 and -1 of the nine digits, the first a zero when there are eight.
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, false, false
		}
		v = v*10 + uint64(c-'0')
		w := len(s) - i // 9..1, or 8..1
		if w == 1 {
			w = -1
		}
		sum += w * int(c-'0')
	}
	return v, sum%11 == 0 && sum != 0, true
}
