package transform

// refSet is a set of 64-bit reference fingerprints: open addressing with linear probing in one
// flat slice, so that adding a fingerprint costs about one cache miss. It holds 8 bytes per slot
// at a load between 3/8 and 3/4, about 11 to 21 bytes per reference.
type refSet struct {
	slots []uint64 // 0 = empty
	n     int
}

// add adds h and reports whether it was new.
func (s *refSet) add(h uint64) bool {
	h |= 1 // never 0, the empty slot; costs one bit of the fingerprint
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.n++
			return true
		case h:
			return false
		}
	}
}

func (s *refSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(1024, 2*len(old)))
	s.n = 0
	for _, h := range old {
		if h != 0 {
			s.add(h)
		}
	}
}
