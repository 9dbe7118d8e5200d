package exchange

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// callCounter wraps an endpoint and counts its calls by method, in
// counts shared by the wrappers of one partner.
type callCounter struct {
	endpoint.Endpoint
	c *calls
}

type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) add(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[method]++
}

func (c *calls) get() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func (w callCounter) List(ctx context.Context, dir string) ([]endpoint.FileInfo, error) {
	w.c.add("List")
	return w.Endpoint.List(ctx, dir)
}

func (w callCounter) Stat(ctx context.Context, p string) (endpoint.FileInfo, error) {
	w.c.add("Stat")
	return w.Endpoint.Stat(ctx, p)
}

func (w callCounter) Open(ctx context.Context, p string) (endpoint.ReadFile, error) {
	w.c.add("Open")
	return w.Endpoint.Open(ctx, p)
}

func (w callCounter) OpenListed(ctx context.Context, p string, listed endpoint.FileInfo) (endpoint.ReadFile, error) {
	w.c.add("OpenListed")
	return w.Endpoint.OpenListed(ctx, p, listed)
}

func (w callCounter) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	w.c.add("Create")
	return w.Endpoint.Create(ctx, p)
}

func (w callCounter) Rename(ctx context.Context, from, to string) error {
	w.c.add("Rename")
	return w.Endpoint.Rename(ctx, from, to)
}

func (w callCounter) Remove(ctx context.Context, p string) error {
	w.c.add("Remove")
	return w.Endpoint.Remove(ctx, p)
}

// TestPerFileCost takes many small files from one directory of a real
// OpenSSH sshd to another, after: delete, and counts what each file
// costs: five ledger writes (added, staged, transformed with its
// delivery's start, uploaded, delivered with done), and at each endpoint
// only the calls its steps need (source: open as listed, the look before
// the clean and the removal; destination: create, the size check, the
// rename). Every file arrives once, the source is empty, staging is
// empty, and the audit chain verifies.
func TestPerFileCost(t *testing.T) {
	const n = 24
	s := sshdtest.Start(t)
	in, out := t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, out, "in")
	for i := range n {
		os.WriteFile(filepath.Join(in, "outbox", fmt.Sprintf("claims_%02d.csv", i)), claims, 0o644)
	}
	g := newRig(t, map[string]*config.Partner{
		"acme":    sftpPartner("creditor", opensshConfig(t, s)),
		"archive": sftpPartner("internal", opensshConfig(t, s)),
	}, map[string]*config.Job{"j": {
		Source:       config.Source{Partner: "acme", Dir: filepath.Join(in, "outbox"), Match: "claims_*.csv", Settle: settle(time.Millisecond), After: "delete"},
		Destinations: []*config.Destination{{Partner: "archive", Dir: filepath.Join(out, "in")}},
	}})
	counts := map[string]*calls{"acme": {n: map[string]int{}}, "archive": {n: map[string]int{}}}
	g.runner.wrapEndpoint = func(p string, ep endpoint.Endpoint) endpoint.Endpoint {
		return callCounter{Endpoint: ep, c: counts[p]}
	}
	before := g.ledger.WriteStats()
	res, err := g.run("j")
	if err != nil || res.Files != n || res.Delivered != n {
		t.Fatalf("run = %+v, %v; want %d files delivered", res, err, n)
	}
	after := g.ledger.WriteStats()
	// The run's own two: its start and its end.
	if w := after.Writes - before.Writes; w != 5*n+2 {
		t.Errorf("%d ledger writes for %d files, want %d (5 a file, 2 for the run)", w, n, 5*n+2)
	}
	t.Logf("%d writes in %d transactions", after.Writes-before.Writes, after.Transactions-before.Transactions)
	wantCalls := map[string]map[string]int{
		"acme":    {"List": 2, "OpenListed": n, "Stat": n, "Remove": n},
		"archive": {"Create": n, "Stat": n, "Rename": n},
	}
	for p, want := range wantCalls {
		if got := counts[p].get(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: calls %v, want %v", p, got, want)
		}
	}
	for i := range n {
		name := fmt.Sprintf("claims_%02d.csv", i)
		if b, err := os.ReadFile(filepath.Join(out, "in", name)); err != nil || string(b) != string(claims) {
			t.Errorf("%s: %d bytes, %v", name, len(b), err)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(in, "outbox")); len(left) != 0 {
		t.Errorf("%d files left at the source", len(left))
	}
	assertNoTempFiles(t, out)
	g.stagingEmpty()
	if r, err := g.ledger.VerifyAudit(); err != nil || !r.OK() {
		t.Errorf("audit: %+v, %v", r, err)
	}
	if pend, _ := g.ledger.Pending("j"); len(pend) != 0 {
		t.Errorf("%d files pending", len(pend))
	}
}
