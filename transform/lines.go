package transform

import (
	"bytes"

	xtransform "golang.org/x/text/transform"
)

// lineEnds is a transformer that makes every line end one LF, so that encoding/csv, which knows
// LF and CRLF only, reads the lines of a "CSV (Macintosh)" export from Excel: a bare CR becomes an
// LF, inside a quoted cell too; LF and CRLF pass unchanged. It replaces a byte by a byte, so an
// offset in its output is the same offset in its input.
//
// It also counts the input's physical lines, apart from the CSV reader, so that Process can
// check that every line is accounted for: a line ends at a CR, an LF or a CRLF, or at the end of
// the input when bytes follow the last line end.
type lineEnds struct {
	ends     int  // line ends seen
	open     bool // bytes after the last line end: a last line without one
	lastText int  // the 1-based line of the last byte that is not a line end; 0 = none yet
}

var _ xtransform.Transformer = (*lineEnds)(nil)

func (l *lineEnds) Reset() { *l = lineEnds{} }

// Transform copies src to dst with bare CRs made LFs. A CR at the end of src waits for the byte
// after it (ErrShortSrc), unless src ends the input.
func (l *lineEnds) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	n := copy(dst, src)
	if n < len(src) {
		err = xtransform.ErrShortDst
	}
	q := dst[:n]
	for off := 0; off < n; {
		i := bytes.IndexByte(q[off:], '\r')
		if i < 0 {
			break
		}
		i += off
		switch {
		case i+1 < n:
			if q[i+1] != '\n' {
				q[i] = '\n'
			}
		case n < len(src):
			if src[n] != '\n' {
				q[i] = '\n'
			}
		case atEOF:
			q[i] = '\n'
		default:
			// The last byte of src: whether it is a CRLF depends on a byte not read yet.
			n--
			q = q[:n]
			err = xtransform.ErrShortSrc
		}
		off = i + 1
	}
	l.count(q)
	return n, n, err
}

// count counts the line ends of a transformed chunk (a CR left in it is the first half of a
// CRLF) and where its last text byte is.
func (l *lineEnds) count(q []byte) {
	if len(q) == 0 {
		return
	}
	ends := bytes.Count(q, []byte{'\n'})
	j := len(q) - 1
	for j >= 0 && (q[j] == '\n' || q[j] == '\r') {
		j--
	}
	if j >= 0 {
		l.lastText = l.ends + ends - bytes.Count(q[j:], []byte{'\n'}) + 1
	}
	l.ends += ends
	l.open = j == len(q)-1
}

// lines is the number of physical lines read so far.
func (l *lineEnds) lines() int {
	if l.open {
		return l.ends + 1
	}
	return l.ends
}
