package exchange

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/ledger"
)

// budgetProbe counts the large transfers moving bytes at once, source
// reads (first Read to EOF or Close) and destination writes (first Write
// to Close) alike, and holds every large source read at its first Read
// until maxLarge of them move together and every small file was
// delivered, or, failing that, for at most a few seconds.
type budgetProbe struct {
	maxLarge, small int
	mu              sync.Mutex
	now, peak       int
	smallDone       int
	waits           int  // large transfers that waited for budget
	byCondition     bool // released because the condition was met
	closed          bool // released, by the condition or the timeout
	timedOut        string
	released        chan struct{}
}

func (p *budgetProbe) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now++
	p.peak = max(p.peak, p.now)
	p.check()
}

func (p *budgetProbe) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now--
}

// check releases the held reads once the condition is met; p.mu held.
func (p *budgetProbe) check() {
	if p.now == p.maxLarge && p.smallDone == p.small && !p.closed {
		p.byCondition, p.closed = true, true
		close(p.released)
	}
}

// hold waits for the release, for at most a few seconds.
func (p *budgetProbe) hold() {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-p.released:
	case <-t.C:
		p.mu.Lock()
		if !p.closed {
			p.timedOut = fmt.Sprintf("%d large moving, %d of %d small files delivered", p.now, p.smallDone, p.small)
			p.closed = true
			close(p.released)
		}
		p.mu.Unlock()
	}
}

type probedSource struct {
	endpoint.Endpoint
	p *budgetProbe
}

func (s probedSource) OpenListed(ctx context.Context, name string, listed endpoint.FileInfo) (endpoint.ReadFile, error) {
	r, err := s.Endpoint.OpenListed(ctx, name, listed)
	if err != nil || listed.Size < budgetPerTransfer {
		return r, err
	}
	return &probedReader{ReadFile: r, transfer: transfer{p: s.p}}, nil
}

// transfer is one large transfer's part in a budgetProbe: moving from
// begin to the first end.
type transfer struct {
	p             *budgetProbe
	moving, ended bool
}

// begin counts the transfer as moving, once, and reports whether this
// call did.
func (x *transfer) begin() bool {
	if x.moving {
		return false
	}
	x.moving = true
	x.p.start()
	return true
}

func (x *transfer) end() {
	if x.moving && !x.ended {
		x.ended = true
		x.p.stop()
	}
}

type probedReader struct {
	endpoint.ReadFile
	transfer
}

func (r *probedReader) Read(b []byte) (int, error) {
	if r.begin() {
		r.p.hold()
	}
	n, err := r.ReadFile.Read(b)
	if err != nil {
		r.end()
	}
	return n, err
}

func (r *probedReader) Close() error { r.end(); return r.ReadFile.Close() }

type probedDest struct {
	endpoint.Endpoint
	p *budgetProbe
}

func (d probedDest) Create(ctx context.Context, name string) (endpoint.WriteFile, error) {
	w, err := d.Endpoint.Create(ctx, name)
	if err != nil || !strings.HasPrefix(filepath.Base(name), "big_") {
		return w, err
	}
	return &probedWriter{WriteFile: w, transfer: transfer{p: d.p}}, nil
}

type probedWriter struct {
	endpoint.WriteFile
	transfer
}

func (w *probedWriter) Write(b []byte) (int, error) {
	w.begin()
	return w.WriteFile.Write(b)
}

func (w *probedWriter) Close() error {
	err := w.WriteFile.Close()
	w.end()
	return err
}

// TestTransferBudgetBoundsLargeFiles runs six files of budgetPerTransfer
// bytes and twenty small ones, eight at a time: never more than four
// large transfers (budgetLarge/budgetPerTransfer) move bytes at once,
// staging or delivering, and while four large ones hold the budget and
// two more wait for it, every small file of the run is staged and
// delivered by the two workers left. Every file arrives whole.
func TestTransferBudgetBoundsLargeFiles(t *testing.T) {
	g, in, out := localRig(t, config.Source{}, &config.Destination{Partner: "cases", Dir: "/inbox", Upload: config.UploadDirect})
	g.cfg.Runs.ParallelFiles = 8
	files := manyFiles(t, filepath.Join(in, "outbox"), 20)
	for i := range 6 {
		name := fmt.Sprintf("big_%d.csv", i)
		body := bytes.Repeat([]byte(fmt.Sprintf("K-%d;J. de Vries;%d,00\r\n", i, i)), budgetPerTransfer/16)
		if len(body) < budgetPerTransfer {
			t.Fatalf("%s: %d bytes, want a large file", name, len(body))
		}
		if err := os.WriteFile(filepath.Join(in, "outbox", name), body, 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = body
	}
	mt := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) // one mtime: the large ones come first, by name
	for name := range files {
		if err := os.Chtimes(filepath.Join(in, "outbox", name), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	p := &budgetProbe{maxLarge: budgetLarge / budgetPerTransfer, small: 20, released: make(chan struct{})}
	g.runner.budget.waiting = func(w int64) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if w == budgetPerTransfer {
			p.waits++
		}
	}
	g.runner.Observe = func(e Event) {
		if e.Step == "deliver" && e.Outcome == "ok" && e.Bytes < budgetSmallMax {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.smallDone++
			p.check()
		}
	}
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "creditor" {
			return probedSource{Endpoint: ep, p: p}
		}
		return probedDest{Endpoint: ep, p: p}
	}
	res, err := g.run("j")
	if err != nil || res.Delivered != 26 || res.Failed != 0 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if !p.byCondition {
		t.Errorf("the large reads were released by the timeout: %s (want %d and all)", p.timedOut, p.maxLarge)
	}
	if p.peak != p.maxLarge {
		t.Errorf("%d large transfers moved bytes at once, want %d", p.peak, p.maxLarge)
	}
	if p.waits < 2 {
		t.Errorf("%d large transfers waited for budget, want at least 2", p.waits)
	}
	checkDelivered(t, g, "j", filepath.Join(out, "inbox"), files, 1)
	g.checkLogs("J. de Vries")
}

// A run cancelled while a transfer waits for budget leaves the file as a
// cancel at any other point does: a file waiting to be staged stays at
// the source and in no ledger row; one waiting to be delivered stays
// pending, staged (and so taken from the source), its delivery started, with no attempt or error
// recorded and nothing at the destination. The next run delivers it.
func TestTransferBudgetCancelWhileWaiting(t *testing.T) {
	body := bytes.Repeat([]byte("K-1;J. de Vries;1,00\r\n"), 1<<16) // over budgetSmallMax
	for _, step := range []string{"stage", "deliver", "deliver-direct"} {
		t.Run(step, func(t *testing.T) {
			dest := &config.Destination{Partner: "cases", Dir: "/inbox"}
			if step == "deliver-direct" {
				dest.Upload = config.UploadDirect
			}
			g, in, out := localRig(t, config.Source{}, dest)
			if err := os.WriteFile(filepath.Join(in, "outbox", "a.csv"), body, 0o644); err != nil {
				t.Fatal(err)
			}
			b := g.runner.budget
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			waited := 0
			b.waiting = func(int64) { waited++; cancel() }
			full := func() {
				if !b.large.TryAcquire(budgetLarge) {
					t.Error("budget not free")
				}
			}
			if step == "stage" {
				full()
			} else {
				g.runner.Observe = func(e Event) {
					if e.Step == "stage" && e.Outcome == "ok" {
						full()
					}
				}
			}
			res, err := g.runner.Run(ctx, "j")
			if err == nil || res.Delivered != 0 || res.Failed != 0 || waited != 1 {
				t.Fatalf("cancelled run = %+v, %v after %d waits; want cancelled, nothing failed", res, err, waited)
			}
			if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
				t.Errorf("destination holds %d entries, want none", len(ents))
			}
			rows := g.files("j")
			switch step {
			case "stage":
				if _, err := os.Stat(filepath.Join(in, "outbox", "a.csv")); err != nil {
					t.Errorf("source: %v", err)
				}
				if len(rows) != 0 {
					t.Errorf("ledger holds %+v, want no row", rows)
				}
				g.stagingEmpty()
			default:
				if len(rows) != 1 || rows[0].State != ledger.StateTransformed || rows[0].Attempts != 0 || rows[0].Error != "" {
					t.Fatalf("ledger holds %+v, want a.csv staged (transformed: the staged copy is its output), no attempt or error", rows)
				}
				dels, err := g.ledger.Deliveries(rows[0].ID)
				if err != nil || len(dels) != 1 || dels[0].State != ledger.DeliveryStarted {
					t.Errorf("deliveries %+v, %v; want one started", dels, err)
				}
			}
			b.large.Release(budgetLarge)
			b.waiting, g.runner.Observe = nil, nil
			if res, err := g.run("j"); err != nil || res.Delivered != 1 {
				t.Fatalf("next run = %+v, %v", res, err)
			}
			checkDelivered(t, g, "j", filepath.Join(out, "inbox"), map[string][]byte{"a.csv": body}, 1)
		})
	}
}

// After a reload the old and the new runner share one transfer budget: a
// large file of the new runner's waits while the old runner's transfers
// hold all of it, and moves once they give it back.
func TestReloadSharesTransferBudget(t *testing.T) {
	old, _, _ := localRig(t, config.Source{})
	next, in, out := localRig(t, config.Source{})
	next.runner.ShareLimits(old.runner)
	body := bytes.Repeat([]byte("K-1;J. de Vries;1,00\r\n"), 1<<16)
	if err := os.WriteFile(filepath.Join(in, "outbox", "a.csv"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	if !old.runner.budget.large.TryAcquire(budgetLarge) {
		t.Fatal("old budget not free")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waited := 0
	next.runner.budget.waiting = func(int64) { waited++; cancel() }
	if res, err := next.runner.Run(ctx, "j"); err == nil || res.Files != 0 || waited != 1 {
		t.Fatalf("new runner's run while the old one holds the budget = %+v, %v after %d waits; want it waiting, then cancelled", res, err, waited)
	}
	old.runner.budget.large.Release(budgetLarge)
	if res, err := next.run("j"); err != nil || res.Delivered != 1 || waited != 1 {
		t.Fatalf("after the old runner gave the budget back: %+v, %v, %d waits", res, err, waited)
	}
	checkDelivered(t, next, "j", filepath.Join(out, "inbox"), map[string][]byte{"a.csv": body}, 1)
}
