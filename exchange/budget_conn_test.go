package exchange

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/internal/sftpd"
)

// firstCall calls reached on the first Connect, Stat or Create of the
// endpoint it wraps, before passing it on.
type firstCall struct {
	endpoint.Endpoint
	reached func()
}

func (e firstCall) Connect(ctx context.Context) error {
	e.reached()
	return e.Endpoint.Connect(ctx)
}

func (e firstCall) Stat(ctx context.Context, p string) (endpoint.FileInfo, error) {
	e.reached()
	return e.Endpoint.Stat(ctx, p)
}

func (e firstCall) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	e.reached()
	return e.Endpoint.Create(ctx, p)
}

// A direct delivery waiting for a connection to its partner (max_conns
// taken, here by a connection held elsewhere) holds no transfer budget
// meanwhile (budget.go: a transfer never holds budget while it waits for
// a connection slot, which a run waiting for budget may hold): a large
// file of another job is staged and delivered while it waits. Once the
// connection is free, the direct delivery completes.
func TestTransferBudgetNotHeldWaitingForConnection(t *testing.T) {
	acme := startInproc(t, sftpd.Options{})
	mkdirs(t, acme.root, "in")
	cfg := acme.cfg
	cfg.MaxConns, cfg.Timeout = 1, config.Duration(10*time.Second)
	in, out := t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox", "other")
	mkdirs(t, out, "inbox")
	g := newRig(t, map[string]*config.Partner{
		"creditor": localPartner("creditor", in),
		"cases":    localPartner("internal", out),
		"acme":     sftpPartner("internal", cfg),
	}, map[string]*config.Job{
		"d": {Source: config.Source{Partner: "creditor", Dir: "/outbox"},
			Destinations: []*config.Destination{{Partner: "acme", Dir: "/in", Upload: config.UploadDirect}}},
		"s": {Source: config.Source{Partner: "creditor", Dir: "/other"},
			Destinations: []*config.Destination{{Partner: "cases", Dir: "/inbox"}}},
	})
	body := bytes.Repeat([]byte("K-1;J. de Vries;1,00\r\n"), budgetPerTransfer/16)
	for _, p := range []string{filepath.Join(in, "outbox", "d.csv"), filepath.Join(in, "other", "s.csv")} {
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// acme's only connection, held by another run meanwhile.
	held := sftp.New("acme", cfg, nil, g.runner.sems["acme"])
	defer held.Close()
	if _, err := held.List(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	// Room for one large transfer only.
	b := g.runner.budget
	if !b.large.TryAcquire(budgetLarge - budgetPerTransfer) {
		t.Fatal("budget not free")
	}
	defer b.large.Release(budgetLarge - budgetPerTransfer)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var armed atomic.Bool
	var waited atomic.Int32
	b.waiting = func(int64) {
		if armed.Load() {
			waited.Add(1)
			cancel()
		}
	}
	reached := make(chan struct{})
	var once sync.Once
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner != "acme" {
			return ep
		}
		return firstCall{Endpoint: ep, reached: func() { once.Do(func() { close(reached) }) }}
	}
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := g.run("d")
		done <- result{res, err}
	}()
	select {
	case <-reached: // d.csv staged; its delivery about to wait for acme's connection
	case <-time.After(30 * time.Second):
		t.Fatal("the direct delivery never reached its partner")
	}
	armed.Store(true)
	res, err := g.runner.Run(ctx, "s")
	if err != nil || res.Delivered != 1 || waited.Load() != 0 {
		t.Errorf("other job's run while a direct delivery waits for a connection = %+v, %v after %d waits for budget; want it delivered without waiting", res, err, waited.Load())
	}
	held.Close()
	select {
	case r := <-done:
		if r.err != nil || r.res.Delivered != 1 {
			t.Fatalf("direct run = %+v, %v", r.res, r.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the direct run did not end")
	}
	if got, err := os.ReadFile(filepath.Join(acme.root, "in", "d.csv")); err != nil || !bytes.Equal(got, body) {
		t.Errorf("acme holds %d bytes, %v; want d.csv whole", len(got), err)
	}
	g.checkLogs("J. de Vries")
}
