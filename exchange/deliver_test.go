package exchange

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/ledger"
)

// TestSidecarTempLeftByCrashIsReplaced: a crash while a done marker or
// checksum file was being written leaves a partial temp file; the resumed
// delivery writes the sidecar under the same temp name, so nothing is
// left behind.
func TestSidecarTempLeftByCrashIsReplaced(t *testing.T) {
	g, _, out := localRig(t, config.Source{})
	rn := &run{Runner: g.runner, runState: &runState{res: &Result{}, eps: map[string]endpoint.Endpoint{}},
		job: g.cfg.Jobs["j"], log: g.runner.log}
	defer rn.closeEndpoints()
	ep, err := rn.endpoint("cases")
	if err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(out, "inbox")
	for _, tc := range []struct {
		d     ledger.Delivery
		stale string
	}{
		{ledger.Delivery{ID: 7, Name: "a.csv", TempName: tempName(3, 0)}, ""},
		// Recorded by a version before short temp names: its sidecar temp
		// names are found as that version made them.
		{ledger.Delivery{ID: 7, Name: "a.csv", TempName: ".a.csv.0123456789ab.part"}, ".a.csv.sha256.7-sidecar.part"},
	} {
		x := &delivery{run: rn, ep: ep, pl: rn.log, l: rn.log, dest: &config.Destination{Dir: "/inbox"}, d: &tc.d}
		tmp := sidecarTemp(&tc.d, "/inbox/a.csv.sha256", "sha256")
		if tc.stale != "" && tmp != "/inbox/"+tc.stale {
			t.Fatalf("sidecar temp of an old delivery = %q, want %q", tmp, tc.stale)
		}
		if tc.stale == "" && (!strings.HasPrefix(path.Base(tmp), tempPrefix) || len(path.Base(tmp)) > 64) {
			t.Fatalf("sidecar temp = %q, want a short one of ours", tmp)
		}
		if err := os.WriteFile(filepath.Join(out, tmp), []byte("0123"), 0o600); err != nil {
			t.Fatal(err)
		}
		want := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.csv\n"
		if err := x.putSmall(context.Background(), "/inbox/a.csv.sha256", tmp, []byte(want)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(inbox, "a.csv.sha256")); err != nil || string(got) != want {
			t.Fatalf("sidecar = %q, %v", got, err)
		}
		assertOnly(t, inbox, "a.csv.sha256")
		os.Remove(filepath.Join(inbox, "a.csv.sha256"))
	}
}
