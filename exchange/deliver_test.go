package exchange

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/exchanged/exchanged/config"
)

// TestSidecarTempLeftByCrashIsReplaced: a crash while a done marker or
// checksum file was being written leaves a partial temp file; the resumed
// delivery writes the sidecar under the same temp name, so nothing is
// left behind.
func TestSidecarTempLeftByCrashIsReplaced(t *testing.T) {
	g, _, out := localRig(t, config.Source{})
	rn := &run{Runner: g.runner, runState: &runState{res: &Result{}, eps: map[string]Endpoint{}},
		job: g.cfg.Jobs["j"], log: g.runner.log}
	defer rn.closeEndpoints()
	ep, err := rn.endpoint("cases")
	if err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(out, "inbox")
	stale := filepath.Join(inbox, ".a.csv.sha256.7-sidecar.part")
	if err := os.WriteFile(stale, []byte("0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.csv\n"
	if err := rn.putSmall(context.Background(), ep, "/inbox/a.csv.sha256", 7, []byte(want)); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(inbox, "a.csv.sha256")); err != nil || string(got) != want {
		t.Fatalf("sidecar = %q, %v", got, err)
	}
	assertOnly(t, inbox, "a.csv.sha256")
}
