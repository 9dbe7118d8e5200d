package exchange

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

func TestOpenSSHEndToEnd(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	in, out := t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, out, "in")
	big := bytes.Repeat(claims, 20000) // ~1.4 MB: many packets, concurrent reads and writes
	os.WriteFile(filepath.Join(in, "outbox", "claims_big.csv"), big, 0o644)
	os.WriteFile(filepath.Join(in, "outbox", "claims_small.csv"), claims, 0o644)
	g := newRig(t, map[string]*config.Partner{
		"acme":   sftpPartner("creditor", opensshConfig(t, src)),
		"jansen": sftpPartner("internal", opensshConfig(t, dst)),
	}, map[string]*config.Job{"j": {
		Source:       config.Source{Partner: "acme", Dir: filepath.Join(in, "outbox"), Match: "claims_*.csv", Settle: settle(time.Second), After: "delete"},
		Destinations: []*config.Destination{{Partner: "jansen", Dir: filepath.Join(out, "in"), DoneMarker: ".done"}},
	}})
	res, err := g.run("j")
	if err != nil || res.Files != 2 || res.Delivered != 2 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	for name, want := range map[string][]byte{"claims_big.csv": big, "claims_small.csv": claims} {
		got, err := os.ReadFile(filepath.Join(out, "in", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d identical bytes", name, len(got), err, len(want))
		}
		if _, err := os.Stat(filepath.Join(out, "in", name+".done")); err != nil {
			t.Errorf("%s: no done marker", name)
		}
		if _, err := os.Stat(filepath.Join(in, "outbox", name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still at the source", name)
		}
	}
	assertNoTempFiles(t, out)
	g.stagingEmpty()
	runs, err := g.ledger.Runs("j", 1)
	if err != nil || len(runs) != 1 || runs[0].Outcome != "ok" || runs[0].Files != 2 {
		t.Fatalf("ledger runs = %+v, %v", runs, err)
	}
	pend, _ := g.ledger.Pending("j")
	if len(pend) != 0 {
		t.Fatalf("pending = %+v", pend)
	}
	g.checkLogs("J. de Vries", "NL91ABNA0417164300", "1.234,56")
}

// TestOpenSSHPeerDownAndBack: a destination that is down keeps the file
// staged; once it is back, the next run delivers it exactly once.
func TestOpenSSHPeerDownAndBack(t *testing.T) {
	s := sshdtest.Start(t)
	g, out := pushRig(t, s, settle(time.Second))
	s.Stop()
	if _, err := g.run("out"); err == nil {
		t.Fatal("run with the peer down succeeded")
	}
	s.Restart(t)
	res, err := g.run("out")
	if err != nil || res.Files != 1 || res.Delivered != 1 {
		t.Fatalf("after restart: %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.csv")); !bytes.Equal(b, claims) {
		t.Fatal("not delivered")
	}
	f, _ := g.ledger.Pending("out")
	if len(f) != 0 {
		t.Fatalf("pending %v", f)
	}
}

// pushRig is job "out": a.csv from a local outbox to dir out on a real
// sshd (partner acme).
func pushRig(t *testing.T, s *sshdtest.Server, settleFor *config.Duration) (*rig, string) {
	t.Helper()
	in, out := t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox")
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	g := newRig(t, map[string]*config.Partner{
		"cases": localPartner("internal", in),
		"acme":  sftpPartner("creditor", opensshConfig(t, s)),
	}, map[string]*config.Job{"out": {Source: config.Source{Partner: "cases", Dir: "/outbox", Settle: settleFor},
		Destinations: []*config.Destination{{Partner: "acme", Dir: out}}}})
	return g, out
}
