package transform

import (
	"unicode"
	"unicode/utf8"
)

// An output row is built as bytes in one buffer and handed to the output's bufio.Writer whole,
// in the same bytes encoding/csv's Writer writes (Comma the format's delimiter, UseCRLF false):
// a field is quoted when it holds the delimiter, a quote, CR or LF, starts with a white-space
// rune, or is `\.`; in a quoted field a quote is doubled and nothing else changes; a record ends
// with LF. TestAppendFieldMatchesEncodingCSV and FuzzAppendRecord hold it to encoding/csv's
// output. Building the row in place spares a string per formatted cell and the Writer's calls
// per byte.

// needsQuotes reports whether a field must be quoted with delimiter comma (one of delimiters,
// all ASCII).
func needsQuotes[T string | []byte](f T, comma byte) bool {
	if len(f) == 0 {
		return false
	}
	if len(f) == 2 && f[0] == '\\' && f[1] == '.' {
		return true
	}
	if !quoteFree(f, comma) {
		return true
	}
	c := f[0]
	if c < utf8.RuneSelf {
		return asciiSpace(c)
	}
	r, _ := utf8.DecodeRuneInString(string(f[:min(len(f), utf8.UTFMax)]))
	return unicode.IsSpace(r)
}

// appendField appends field f to dst, quoted if it needs to be.
func appendField[T string | []byte](dst []byte, f T, comma byte) []byte {
	if !needsQuotes(f, comma) {
		return append(dst, f...)
	}
	return appendQuoted(dst, f)
}

// appendQuoted appends f in quotes, each quote in it doubled.
func appendQuoted[T string | []byte](dst []byte, f T) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, f[i])
	}
	return append(dst, '"')
}

// quoteTail quotes, if it needs to be, the field that dst[start:] holds, formatted there in
// place.
func quoteTail(dst []byte, start int, comma byte) []byte {
	if !needsQuotes(dst[start:], comma) {
		return dst
	}
	f := string(dst[start:]) // rare: a decimal comma under a comma delimiter, say
	return appendQuoted(dst[:start], f)
}

// appendRecord appends a whole record of fields, ended by LF.
func appendRecord(dst []byte, fields []string, comma byte) []byte {
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, comma)
		}
		dst = appendField(dst, f, comma)
	}
	return append(dst, '\n')
}
