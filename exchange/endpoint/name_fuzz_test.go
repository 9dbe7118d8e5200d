package endpoint

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCheckName: CheckName never panics, refuses with ErrBadName, and a
// name it accepts is one path element a server and a local disk read the
// same way: valid UTF-8, 1 to 255 bytes, not "." or "..", no "..", no "/"
// or "\", no NUL and no control character.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"claims_2026-11-20.csv", "a", ".", "..", "...", "a..b", "../etc/passwd",
		"a/b", `a\b`, "a\x00b", "a\nb", "a\x7fb", "a\u0085b", "a\u2028b", "\xff", "é.csv", ".done",
		strings.Repeat("x", 255), strings.Repeat("x", 256), strings.Repeat("é", 128)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckName(name)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("CheckName(%q) = %v, not ErrBadName", name, err)
			}
			return
		}
		switch {
		case name == "" || name == "." || name == "..":
			t.Fatalf("accepted %q", name)
		case len(name) > 255:
			t.Fatalf("accepted a name of %d bytes", len(name))
		case !utf8.ValidString(name):
			t.Fatalf("accepted invalid UTF-8 %q", name)
		case strings.ContainsAny(name, "/\\\x00"):
			t.Fatalf("accepted a separator or NUL: %q", name)
		case strings.Contains(name, ".."):
			t.Fatalf(`accepted ".." in %q`, name)
		}
		for _, r := range name {
			if unicode.IsControl(r) {
				t.Fatalf("accepted control character %U in %q", r, name)
			}
		}
	})
}
