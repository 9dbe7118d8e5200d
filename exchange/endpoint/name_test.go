package endpoint

import (
	"errors"
	"testing"
)

func TestCheckName(t *testing.T) {
	ok := []string{"claims_2026-11-20.csv", "a", "Betalingen 1.234.csv", "é.csv", "x.y.z"}
	bad := []string{"", ".", "..", "../etc", "a/b", `a\b`, "a..b", "x\nb", "x\x00", "x\x7f", "tab\tname", "\xff.csv", string(make([]byte, 256))}
	for _, n := range ok {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := CheckName(n); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", n, err)
		}
	}
}
