package exchange

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/internal/sshdtest"
	"github.com/exchanged/exchanged/ledger"
)

// uploadGate wraps a destination endpoint and counts the uploads open at
// once (Create to Close). The first uploads wait, for at most a few
// seconds, until want of them are open together: a runner that took files
// one at a time would never get there, and the test sees a peak of 1.
type uploadGate struct {
	endpoint.Endpoint
	g *gate
}

type gate struct {
	want int
	mu   sync.Mutex
	open int
	peak int
	full chan struct{} // closed once want uploads were open together
}

func newGate(want int) *gate { return &gate{want: want, full: make(chan struct{})} }

func (u uploadGate) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	w, err := u.Endpoint.Create(ctx, p)
	if err != nil {
		return nil, err
	}
	g := u.g
	g.mu.Lock()
	g.open++
	g.peak = max(g.peak, g.open)
	if g.open == g.want {
		select {
		case <-g.full:
		default:
			close(g.full)
		}
	}
	g.mu.Unlock()
	select {
	case <-g.full:
	case <-time.After(3 * time.Second):
	}
	return &gatedWriter{WriteFile: w, g: g}, nil
}

type gatedWriter struct {
	endpoint.WriteFile
	g    *gate
	once sync.Once
}

func (w *gatedWriter) Close() error {
	err := w.WriteFile.Close()
	w.once.Do(func() {
		w.g.mu.Lock()
		w.g.open--
		w.g.mu.Unlock()
	})
	return err
}

// manyFiles writes n distinct claim files into dir and returns them by name.
func manyFiles(t *testing.T, dir string, n int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("claims_%03d.csv", i)
		body := fmt.Appendf(nil, "Klantnummer;Naam;Bedrag\r\nK-%d;J. de Vries;%d,00\r\n", i, i)
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = body
	}
	return files
}

// checkDelivered asserts that dir holds exactly files, byte for byte, and
// that the ledger has each file done with one delivery per destination.
func checkDelivered(t *testing.T, g *rig, job, dir string, files map[string][]byte, dests int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(files) {
		t.Errorf("%s holds %d entries, want %d", dir, len(ents), len(files))
	}
	for _, e := range ents {
		want, ok := files[e.Name()]
		got, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if !ok || err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/%s: %q, %v; want %q", dir, e.Name(), got, err, want)
		}
	}
	if pend, err := g.ledger.Pending(job); err != nil || len(pend) != 0 {
		t.Errorf("pending = %d files, %v", len(pend), err)
	}
	rows := byName(t, g, job)
	for name := range files {
		f, ok := rows[name]
		if !ok {
			t.Fatalf("%s: not in the ledger", name)
		}
		dels, err := g.ledger.Deliveries(f.ID)
		if err != nil || len(dels) != dests {
			t.Errorf("%s: %d deliveries, %v; want %d", name, len(dels), err, dests)
		}
		for _, d := range dels {
			if d.State != ledger.DeliveryDelivered || d.Name != name {
				t.Errorf("%s: delivery %+v", name, d)
			}
		}
	}
	g.stagingEmpty()
}

// byName returns job's ledger rows by source name, failing the test if a
// name was imported twice.
func byName(t *testing.T, g *rig, job string) map[string]ledger.File {
	t.Helper()
	out := map[string]ledger.File{}
	for _, f := range g.files(job) {
		if old, ok := out[f.Name]; ok {
			t.Fatalf("%s: imported twice (ids %d, %d)", f.Name, old.ID, f.ID)
		}
		out[f.Name] = f
	}
	return out
}

// files returns every ledger row of job, whatever its state. Ids are
// never reused, but a file forgotten before it was staged (DeleteFile)
// leaves a gap: look at the first thousand.
func (g *rig) files(job string) []ledger.File {
	g.t.Helper()
	var out []ledger.File
	for id := int64(1); id <= 1000; id++ {
		if f, err := g.ledger.File(id); err == nil && f.Job == job {
			out = append(out, *f)
		}
	}
	return out
}

// TestParallelFilesOpenSSH moves 120 files from one real sshd to another
// and a local directory, four at a time (runs.parallel_files): every file
// arrives once, whole, at both; the ledger has each done with its two
// deliveries; and four uploads, never more, were open at once.
func TestParallelFilesOpenSSH(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	in, out, cases := t.TempDir(), t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, out, "in")
	mkdirs(t, cases, "inbox")
	files := manyFiles(t, filepath.Join(in, "outbox"), 120)
	g := newRig(t, map[string]*config.Partner{
		"acme":   sftpPartner("creditor", opensshConfig(t, src)),
		"jansen": sftpPartner("internal", opensshConfig(t, dst)),
		"cases":  localPartner("internal", cases),
	}, map[string]*config.Job{"j": {
		Source: config.Source{Partner: "acme", Dir: filepath.Join(in, "outbox"), Match: "claims_*.csv", After: "delete"},
		Destinations: []*config.Destination{
			{Partner: "jansen", Dir: filepath.Join(out, "in")},
			{Partner: "cases", Dir: "/inbox"},
		},
	}})
	g.cfg.Runs.ParallelFiles = 4
	gt := newGate(4)
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "jansen" {
			return uploadGate{Endpoint: ep, g: gt}
		}
		return ep
	}
	res, err := g.run("j")
	if err != nil || res.Files != 120 || res.Delivered != 240 || res.Failed != 0 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if gt.peak != 4 {
		t.Errorf("at most %d uploads were open at once, want 4", gt.peak)
	}
	checkDelivered(t, g, "j", filepath.Join(out, "in"), files, 2)
	checkDelivered(t, g, "j", filepath.Join(cases, "inbox"), files, 2)
	if left, _ := os.ReadDir(filepath.Join(in, "outbox")); len(left) != 0 {
		t.Errorf("%d files left at the source", len(left))
	}
	g.checkLogs("J. de Vries")
}

// TestParallelFilesOne: runs.parallel_files 1 takes the files one at a
// time, oldest first and then by name.
func TestParallelFilesOne(t *testing.T) {
	g, in, out := localRig(t, config.Source{})
	files := manyFiles(t, filepath.Join(in, "outbox"), 20)
	// The last name is the oldest file; the others share one mtime.
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for name := range files {
		mt := base
		if name == "claims_019.csv" {
			mt = base.Add(-time.Hour)
		}
		if err := os.Chtimes(filepath.Join(in, "outbox", name), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	g.cfg.Runs.ParallelFiles = 1
	gt := newGate(2)
	gt.full = make(chan struct{})
	close(gt.full) // no waiting: one at a time would wait for nothing
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "cases" {
			return uploadGate{Endpoint: ep, g: gt}
		}
		return ep
	}
	if res, err := g.run("j"); err != nil || res.Delivered != 20 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if gt.peak != 1 {
		t.Errorf("%d uploads open at once, want 1", gt.peak)
	}
	var order []string
	for _, e := range g.logs.FilterMessage("file delivered").All() {
		order = append(order, filepath.Base(e.ContextMap()["file"].(string)))
	}
	if len(order) != 20 || order[0] != "claims_019.csv" || !slices.IsSorted(order[1:]) {
		t.Errorf("delivered in order %v, want the oldest first, then by name", order)
	}
	checkDelivered(t, g, "j", filepath.Join(out, "inbox"), files, 1)
}

// TestParallelCancelThenResume cancels a run while eight files are on
// their way at once, then runs again: every file arrives exactly once,
// whole, and nothing is left in staging or at the destination besides.
func TestParallelCancelThenResume(t *testing.T) {
	dst := startInproc(t, sftpd.Options{})
	in := t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, dst.root, "in")
	files := manyFiles(t, filepath.Join(in, "outbox"), 80)
	g := newRig(t, map[string]*config.Partner{
		"cases": localPartner("internal", in),
		"acme":  sftpPartner("creditor", dst.cfg),
	}, map[string]*config.Job{"out": {Source: config.Source{Partner: "cases", Dir: "/outbox"},
		Destinations: []*config.Destination{{Partner: "acme", Dir: "/in", Checksum: true}}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	delivered := 0
	g.runner.Observe = func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Step == "deliver" && e.Outcome == "ok" {
			if delivered++; delivered == 20 {
				cancel()
			}
		}
	}
	res, err := g.runner.Run(ctx, "out")
	if err == nil || res.Delivered >= 80 {
		t.Fatalf("cancelled run = %+v, %v; want cancelled part-way", res, err)
	}
	t.Logf("cancelled run: %+v", res)
	// Cut short by the cancel is not failed: nothing counted or recorded.
	if res.Failed != 0 {
		t.Errorf("cancelled run counts %d failed files", res.Failed)
	}
	pend, _ := g.ledger.Pending("out")
	for _, f := range pend {
		if f.Attempts != 0 || f.Error != "" {
			t.Errorf("%s: recorded as failed by the cancel: %d attempts, %q", f.Name, f.Attempts, f.Error)
		}
	}

	g.runner.Observe = nil
	res2, err := g.run("out")
	if err != nil {
		t.Fatalf("second run = %+v, %v", res2, err)
	}
	if res.Delivered+res2.Delivered != 80 {
		t.Errorf("delivered %d + %d, want 80 in all", res.Delivered, res2.Delivered)
	}
	// Every file once, with its checksum sidecar; no temp file.
	want := map[string][]byte{}
	for name, body := range files {
		want[name] = body
		want[name+".sha256"] = []byte(sum(body) + "  " + name + "\n")
	}
	ents, _ := os.ReadDir(filepath.Join(dst.root, "in"))
	if len(ents) != len(want) {
		t.Errorf("destination holds %d entries, want %d", len(ents), len(want))
	}
	for _, e := range ents {
		got, _ := os.ReadFile(filepath.Join(dst.root, "in", e.Name()))
		if w, ok := want[e.Name()]; !ok || !bytes.Equal(got, w) {
			t.Errorf("destination %s: %q", e.Name(), got)
		}
	}
	if pend, _ := g.ledger.Pending("out"); len(pend) != 0 {
		t.Errorf("%d files pending", len(pend))
	}
	rows := byName(t, g, "out")
	for name := range files {
		dels, _ := g.ledger.Deliveries(rows[name].ID)
		if len(dels) != 1 || dels[0].State != ledger.DeliveryDelivered {
			t.Errorf("%s: deliveries %+v", name, dels)
		}
	}
	g.stagingEmpty()
}
