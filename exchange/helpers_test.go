package exchange

import (
	"fmt"
	"os"
	osexec "os/exec"
	"testing"

	"github.com/exchanged/exchanged/internal/seal"
)

// stagingKey returns a new staging key.
func stagingKey(tb testing.TB) *seal.Key {
	tb.Helper()
	k, err := seal.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func fmtAny(v any) string { return fmt.Sprint(v) }

func exec(name string, args ...string) error {
	out, err := osexec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %v: %s", name, args, err, out)
	}
	return nil
}

// mountTmpfs mounts a small tmpfs, for real disk-full and read-only
// tests. It needs root; under CI=true it must work, elsewhere it skips.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if err := exec("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs a tmpfs for this test: %v", err)
		}
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = exec("umount", "-l", dir) })
	return dir
}
