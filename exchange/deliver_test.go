package exchange

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/internal/sftpd"
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

// A job's destinations reordered by a reload while deliveries are stuck:
// no destination may get an output made for another, and the ledger's
// record of who got what must stay true.
func TestReorderedDestinationsGetNothingElses(t *testing.T) {
	g, acme, cases, gdw := transformRig(t)
	os.WriteFile(filepath.Join(acme, "outbox", "claims_1.csv"), excelClaims(t), 0o644)
	os.RemoveAll(filepath.Join(cases, "inbox"))
	os.RemoveAll(filepath.Join(gdw, "in"))
	if _, err := g.run("claims-in"); err == nil {
		t.Fatal("run succeeded with both destinations missing")
	}
	mkdirs(t, cases, "inbox")
	mkdirs(t, gdw, "in")
	j := g.cfg.Jobs["claims-in"]
	j.Destinations[0], j.Destinations[1] = j.Destinations[1], j.Destinations[0]
	res, err := g.run("claims-in")
	if !errors.Is(err, ErrFilesFailed) || res.Delivered != 0 {
		t.Fatalf("run after reorder = %+v, %v; want nothing delivered", res, err)
	}
	for _, dir := range []string{filepath.Join(cases, "inbox"), filepath.Join(gdw, "in")} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s received %d file(s) after a reorder", dir, len(ents))
		}
	}
	ev := g.logs.FilterMessage("file failed").All()
	if last := ev[len(ev)-1].ContextMap()["error"].(string); !strings.Contains(last, "destination changed") {
		t.Fatalf("failure = %q, want it to say the destination changed", last)
	}
}

// cancelWriter cancels its context on the first write, then keeps taking
// bytes, as a staging file would.
type cancelWriter struct {
	cancel func()
	n      int64
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.cancel()
	w.n += int64(len(p))
	return len(p), nil
}

// Cancelling a run stops a download in flight: pkg/sftp holds the file's
// lock for the whole WriteTo, so the connection is cut instead of closing
// the file.
func TestCancelStopsSFTPDownload(t *testing.T) {
	s := startInproc(t, sftpd.Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<20/16*16) // 256 MiB
	os.WriteFile(filepath.Join(s.root, "big.csv"), big, 0o600)
	ep := sftp.New("p", s.cfg, nil, nil)
	defer ep.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := ep.Open(ctx, "/big.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := &cancelWriter{cancel: cancel}
	done := make(chan error, 1)
	go func() { _, err := copyContext(ctx, w, r, r.Abort); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("copy = %v, want context.Canceled", err)
		}
		if w.n >= int64(len(big)) {
			t.Fatal("the whole file was read although the copy was cancelled at once")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("cancelled download did not stop")
	}
	// The endpoint redials for the next call.
	if _, err := ep.Stat(context.Background(), "/big.csv"); err != nil {
		t.Fatalf("Stat after an aborted download: %v", err)
	}
}

// The sidecar temp names of a delivery recorded before short temp names
// are those of then, also for a source whose name begins "exchanged-";
// those of a short temp name are derived from it.
func TestSidecarTempOfOldTempName(t *testing.T) {
	for _, tc := range []struct{ temp, p, want string }{
		{".exchanged-a.csv.0123456789ab.part", "/in/exchanged-a.csv.done", "/in/.exchanged-a.csv.done.7-sidecar.part"},
		{".exchanged-1-0-0123abcd.part.0123456789ab.part", "/in/exchanged-1-0-0123abcd.part.done",
			"/in/.exchanged-1-0-0123abcd.part.done.7-sidecar.part"},
		{".exchanged-12-0-0123abcd.part", "/in/a.csv.done", "/in/.exchanged-12-0-0123abcd-done.part"},
		{".exchanged-12-r-0123abcd.part", "/in/a.rejects.csv.done", "/in/.exchanged-12-r-0123abcd-done.part"},
	} {
		if got := sidecarTemp(&ledger.Delivery{ID: 7, TempName: tc.temp}, tc.p, "done"); got != tc.want {
			t.Errorf("sidecarTemp(%q) = %q, want %q", tc.temp, got, tc.want)
		}
	}
	for _, n := range []string{tempName(123456789, 0), tempName(1, 12), tempName(1, rejectsIndex)} {
		if !shortTemp.MatchString(n) {
			t.Errorf("temp name %q does not match shortTemp", n)
		}
	}
}

// Deliveries of one run to one final name go one at a time: a second
// waits until the first is done, or its context ends.
func TestLockName(t *testing.T) {
	rn := &run{runState: &runState{}}
	unlock, err := rn.lockName(t.Context(), "p", "/in/a.rejects.csv")
	if err != nil {
		t.Fatal(err)
	}
	other, err := rn.lockName(t.Context(), "p", "/in/b.rejects.csv")
	if err != nil {
		t.Fatal(err)
	}
	other()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := rn.lockName(ctx, "p", "/in/a.rejects.csv"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of one name = %v, want it to wait", err)
	}
	got := make(chan error)
	go func() {
		u, err := rn.lockName(t.Context(), "p", "/in/a.rejects.csv")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
