package sshdtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recordTB records Skipf and Fatalf instead of ending the test.
type recordTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordTB) Helper()                           {}
func (r *recordTB) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recordTB) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestUnavailableSkipsUnlessCI(t *testing.T) {
	cause := errors.New("sshd not found")
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{{"", false}, {"false", false}, {"true", true}} {
		t.Setenv("CI", tc.ci)
		r := &recordTB{TB: t}
		unavailable(r, cause)
		if gotFatal := r.fatal != ""; gotFatal != tc.wantFatal || (r.skipped != "") == tc.wantFatal {
			t.Errorf("CI=%q: fatal %q, skipped %q", tc.ci, r.fatal, r.skipped)
		}
	}
}

func TestParseVersionAndPrivsep(t *testing.T) {
	if v := parseVersion("OpenSSH_9.2p1 Debian-2, OpenSSL 3.0.19"); v != [2]int{9, 2} {
		t.Errorf("parseVersion = %v", v)
	}
	if v := parseVersion("garbage"); v != [2]int{} {
		t.Errorf("parseVersion(garbage) = %v", v)
	}
	if dir, ok := missingPrivsepDir("Missing privilege separation directory: /run/sshd"); !ok || dir != "/run/sshd" {
		t.Errorf("missingPrivsepDir = %q, %v", dir, ok)
	}
	st := &setup{authorizedPath: "/a", pidPath: "/p"}
	for _, tc := range []struct {
		v    [2]int
		want bool
	}{{[2]int{9, 2}, false}, {[2]int{9, 8}, true}, {[2]int{10, 0}, true}} {
		if got := strings.Contains(st.config(2222, "u", tc.v), "PerSourcePenalties no\n"); got != tc.want {
			t.Errorf("OpenSSH %v: PerSourcePenalties no = %v", tc.v, got)
		}
	}
}
