package exchange

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/internal/sshdtest"
	"github.com/exchanged/exchanged/ledger"
)

// ErrDestinationTaken waits for the partner: retrying within the run
// would not help (endpoint's TestIsTransient holds the rest of the table).
func TestDestinationTakenIsNotTransient(t *testing.T) {
	if err := fmt.Errorf("%w: x", ErrDestinationTaken); endpoint.IsTransient(err) || endpoint.IsFatal(err) {
		t.Fatalf("%v: transient or fatal; want neither", err)
	}
}

func TestRetryPolicyWait(t *testing.T) {
	p := RetryPolicy{Attempts: 10, Backoff: time.Second, MaxBackoff: 5 * time.Second}
	var got []time.Duration
	for try := 1; try <= 5; try++ {
		got = append(got, p.Wait(try))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("waits = %v, want %v", got, want)
	}
	if d := (RetryPolicy{Backoff: time.Hour}).Wait(200); d < time.Hour {
		t.Fatalf("uncapped wait overflowed: %v", d)
	}
}

// sleeps records the waits of a rig's runner, calling then on each.
func sleeps(g *rig, then func(n int)) *[]time.Duration {
	var mu sync.Mutex
	var waits []time.Duration
	g.runner.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		n := len(waits)
		mu.Unlock()
		if then != nil {
			then(n)
		}
		return ctx.Err()
	}
	return &waits
}

// TestRetryPeerRefusesThenComesBack: a destination that refuses connections
// during the first try and is back for the second gets the file in the same
// run, exactly once.
func TestRetryPeerRefusesThenComesBack(t *testing.T) {
	s := sshdtest.Start(t)
	g, out := pushRig(t, s, nil)
	g.runner.Retry = RetryPolicy{Attempts: 3, Backoff: time.Second, MaxBackoff: 10 * time.Second}
	waits := sleeps(g, func(n int) {
		if n == 1 {
			s.Restart(t) // back during the first backoff
		}
	})
	s.Stop()
	res, err := g.run("out")
	if err != nil || res.Files != 1 || res.Delivered != 1 || res.Failed != 0 {
		t.Fatalf("run = %+v, %v; want the file delivered after one retry", res, err)
	}
	if len(*waits) != 1 || (*waits)[0] != time.Second {
		t.Fatalf("waits = %v, want one of 1s", *waits)
	}
	retries := g.logs.FilterMessage("retrying").All()
	if len(retries) != 1 || retries[0].ContextMap()["step"] != "deliver" {
		t.Fatalf("retry events = %v", retries)
	}
	if n := g.logs.FilterMessage("file failed").Len(); n != 0 {
		t.Fatalf("%d 'file failed' events for a failure that was retried away", n)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.csv")); !bytes.Equal(b, claims) {
		t.Fatal("not delivered")
	}
	assertOnly(t, out, "a.csv")
	if pend, _ := g.ledger.Pending("out"); len(pend) != 0 {
		t.Fatalf("pending %v", pend)
	}
	g.stagingEmpty()
	g.checkLogs("J. de Vries", "NL91ABNA0417164300")
}

// TestRetryBoundedThenNextRun: a peer that stays down is tried Attempts
// times with capped exponential backoff, the file fails once and stays
// staged, and the next run delivers it.
func TestRetryBoundedThenNextRun(t *testing.T) {
	s := sshdtest.Start(t)
	g, out := pushRig(t, s, nil)
	g.runner.Retry = RetryPolicy{Attempts: 4, Backoff: time.Second, MaxBackoff: 3 * time.Second}
	var events []Event
	g.runner.Observe = func(e Event) { events = append(events, e) }
	waits := sleeps(g, nil)
	s.Stop()
	res, err := g.run("out")
	if !errors.Is(err, ErrFilesFailed) || res.Failed != 1 || res.Delivered != 0 {
		t.Fatalf("run = %+v, %v; want the file failed", res, err)
	}
	if fmt.Sprint(*waits) != "[1s 2s 3s]" {
		t.Fatalf("waits = %v, want [1s 2s 3s]", *waits)
	}
	if n := g.logs.FilterMessage("retrying").Len(); n != 3 {
		t.Fatalf("%d retry events, want 3", n)
	}
	failed := g.logs.FilterMessage("file failed").All()
	if len(failed) != 1 || failed[0].ContextMap()["permanent"] != false || failed[0].ContextMap()["attempts"] != int64(1) {
		t.Fatalf("failures = %v; want one, transient, the file's first", failed)
	}
	var retryEvents, failedEvents int
	for _, e := range events {
		switch e.Outcome {
		case "retry":
			retryEvents++
		case "failed":
			failedEvents++
		}
	}
	if retryEvents != 3 || failedEvents != 1 {
		t.Fatalf("observed %d retries and %d failures, want 3 and 1: %v", retryEvents, failedEvents, events)
	}
	pend, _ := g.ledger.Pending("out")
	if len(pend) != 1 || pend[0].State != ledger.StateTransformed {
		t.Fatalf("pending = %+v; want the file staged, waiting for delivery", pend)
	}

	s.Restart(t)
	res, err = g.run("out")
	if err != nil || res.Delivered != 1 {
		t.Fatalf("next run = %+v, %v", res, err)
	}
	assertOnly(t, out, "a.csv")
	g.stagingEmpty()
}

// TestPermanentNotRetried: a changed host key refuses at once, without a
// retry, and ends the run.
func TestPermanentNotRetried(t *testing.T) {
	dst := startInproc(t, sftpd.Options{})
	in := t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, dst.root, "in")
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	cfg := dst.cfg
	cfg.HostKey = "SHA256:Wuad6I6hqDpiy6PvDb8acUGiRkfqgeVX6/j6V2huHoI" // not the server's
	g := newRig(t, map[string]*config.Partner{
		"cases": localPartner("internal", in),
		"acme":  sftpPartner("creditor", cfg),
	}, map[string]*config.Job{"out": {Source: config.Source{Partner: "cases", Dir: "/outbox"},
		Destinations: []*config.Destination{{Partner: "acme", Dir: "/in"}}}})
	waits := sleeps(g, nil)
	_, err := g.run("out")
	if !errors.Is(err, endpoint.ErrHostKeyChanged) {
		t.Fatalf("run = %v, want a host key mismatch", err)
	}
	if len(*waits) != 0 || g.logs.FilterMessage("retrying").Len() != 0 {
		t.Fatalf("a permanent failure was retried: waits %v", *waits)
	}
}

// TestRetryStopsWhenCancelled: a run waiting to retry ends when its context
// does.
func TestRetryStopsWhenCancelled(t *testing.T) {
	dst := startInproc(t, sftpd.Options{})
	in := t.TempDir()
	mkdirs(t, in, "outbox")
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	g := newRig(t, map[string]*config.Partner{
		"cases": localPartner("internal", in),
		"acme":  sftpPartner("creditor", dst.cfg),
	}, map[string]*config.Job{"out": {Source: config.Source{Partner: "cases", Dir: "/outbox"},
		Destinations: []*config.Destination{{Partner: "acme", Dir: "/in"}}}})
	dst.srv.Close()
	g.runner.Retry = RetryPolicy{Attempts: 100, Backoff: time.Hour}
	g.runner.Sleep = sleep // the real one
	ctx, cancel := context.WithCancel(context.Background())
	g.runner.Observe = func(e Event) {
		if e.Outcome == "retry" {
			cancel() // shut down while the run waits for its backoff
		}
	}
	done := make(chan error, 1)
	go func() { _, err := g.runner.Run(ctx, "out"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run = %v, want cancelled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not stop when cancelled during its backoff")
	}
}

// dropAfter wraps an endpoint so that the first file created on it cuts
// the server's connections once n bytes were written: a network failure
// in the middle of an upload.
type dropAfter struct {
	endpoint.Endpoint
	n    int64
	drop func()
	once *sync.Once
}

func (d dropAfter) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	w, err := d.Endpoint.Create(ctx, p)
	if err != nil {
		return nil, err
	}
	return &dropWriter{WriteFile: w, d: d}, nil
}

type dropWriter struct {
	endpoint.WriteFile
	d       dropAfter
	written int64
}

func (w *dropWriter) Write(p []byte) (int, error) {
	n, err := w.WriteFile.Write(p)
	w.written += int64(n)
	if w.written >= w.d.n {
		w.d.once.Do(w.d.drop)
	}
	return n, err
}

// TestRetryConnectionDroppedMidFile: the connection is cut halfway through
// an upload; the run retries on a new connection and the file arrives
// exactly once, whole, with no temp file left.
func TestRetryConnectionDroppedMidFile(t *testing.T) {
	dst := startInproc(t, sftpd.Options{})
	in := t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, dst.root, "in")
	big := bytes.Repeat([]byte("K-1;J. de Vries;NL91ABNA0417164300;1.234,56\r\n"), 100000) // ~4.5 MB
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), big, 0o644)
	g := newRig(t, map[string]*config.Partner{
		"cases": localPartner("internal", in),
		"acme":  sftpPartner("creditor", dst.cfg),
	}, map[string]*config.Job{"out": {Source: config.Source{Partner: "cases", Dir: "/outbox"},
		Destinations: []*config.Destination{{Partner: "acme", Dir: "/in", DoneMarker: ".done"}}}})
	var once sync.Once
	dropped := false
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner != "acme" {
			return ep
		}
		return dropAfter{Endpoint: ep, n: int64(len(big) / 2), once: &once,
			drop: func() { dropped = true; dst.srv.DropConnections() }}
	}
	sleeps(g, nil)
	res, err := g.run("out")
	if !dropped {
		t.Fatal("the connection was never dropped")
	}
	if err != nil || res.Delivered != 1 || res.Failed != 0 {
		t.Fatalf("run = %+v, %v; want delivered after a retry", res, err)
	}
	if r := g.logs.FilterMessage("retrying").All(); len(r) != 1 || r[0].ContextMap()["step"] != "deliver" {
		t.Fatalf("retry events = %v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(dst.root, "in", "a.csv")); !bytes.Equal(b, big) {
		t.Fatalf("delivered file differs: %d of %d bytes", len(b), len(big))
	}
	assertOnly(t, filepath.Join(dst.root, "in"), "a.csv", "a.csv.done")
	dels, _ := g.ledger.Deliveries(onlyFile(t, g, "out").ID)
	if len(dels) != 1 || dels[0].State != ledger.DeliveryDelivered {
		t.Fatalf("deliveries = %+v; want exactly one, delivered", dels)
	}
	g.stagingEmpty()
	g.checkLogs("J. de Vries", "NL91ABNA0417164300")
}

// assertOnly checks that dir holds exactly names: no temp file, no copy.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	if got := dirNames(t, dir); fmt.Sprint(got) != fmt.Sprint(names) {
		t.Fatalf("%s holds %v, want exactly %v", dir, got, names)
	}
}
