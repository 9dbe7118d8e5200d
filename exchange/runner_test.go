package exchange

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/ledger"
)

// rig is a runner over real endpoints, a real ledger file and staging.
type rig struct {
	t      *testing.T
	cfg    *config.Config
	ledger *ledger.Ledger
	runner *Runner
	logs   *observer.ObservedLogs
}

func newRig(t *testing.T, partners map[string]*config.Partner, jobs map[string]*config.Job) *rig {
	t.Helper()
	cfg := &config.Config{Version: 1, StateDir: t.TempDir(), Partners: partners, Jobs: jobs}
	for n, p := range partners {
		p.Name = n
	}
	for n, j := range jobs {
		j.Name = n
	}
	return openRig(t, cfg)
}

func openRig(t *testing.T, cfg *config.Config) *rig {
	t.Helper()
	l, err := ledger.Open(filepath.Join(cfg.StateDir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return rigOn(t, cfg, l)
}

// rigOn is a rig of a runner for cfg on l.
func rigOn(t *testing.T, cfg *config.Config, l *ledger.Ledger) *rig {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	r, err := NewRunner(cfg, l, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	r.Sleep = func(context.Context, time.Duration) error { return nil }
	return &rig{t: t, cfg: cfg, ledger: l, runner: r, logs: logs}
}

func (g *rig) run(job string) (Result, error) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return g.runner.Run(ctx, job)
}

func (g *rig) stagingEmpty() {
	g.t.Helper()
	ids, err := g.runner.Staging().IDs()
	if err != nil || len(ids) != 0 {
		g.t.Fatalf("staging holds %v (err %v), want empty", ids, err)
	}
}

// checkLogs asserts that every event carries the agreed keys and that no
// line holds any of the secrets (file contents).
func (g *rig) checkLogs(secrets ...string) {
	g.t.Helper()
	for _, e := range g.logs.All() {
		fields := e.ContextMap()
		if _, ok := fields["job"]; !ok && e.Message != "host key refused" && e.Message != "connection lost" && e.Message != "reconnecting" && e.Message != "staging swept" {
			g.t.Errorf("event %q has no job key: %v", e.Message, fields)
		}
		line := e.Message
		for k, v := range fields {
			line += " " + k + "=" + toString(v)
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				g.t.Errorf("event %q carries file contents %q", e.Message, s)
			}
		}
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case error:
		return x.Error()
	}
	return strings.TrimSpace(strings.ReplaceAll(fmtAny(v), "\n", " "))
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func sftpPartner(role string, s config.SFTP) *config.Partner {
	return &config.Partner{Role: role, SFTP: &s}
}

func localPartner(role, root string) *config.Partner {
	return &config.Partner{Role: role, Local: &config.Local{Root: root}}
}

func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func settle(d time.Duration) *config.Duration { c := config.Duration(d); return &c }

// claims is a creditor file with personal data that must never be logged.
var claims = []byte("Klantnummer;Naam;IBAN;Bedrag\r\nK-1;J. de Vries;NL91ABNA0417164300;1.234,56\r\n")

func TestRunEndToEndInproc(t *testing.T) {
	acme := startInproc(t, sftpd.Options{})
	jansen := startInproc(t, sftpd.Options{NoPosixRename: true})
	cases := t.TempDir()
	mkdirs(t, acme.root, "outbox", "outbox/processed")
	mkdirs(t, jansen.root, "in")
	mkdirs(t, cases, "inbox")
	os.WriteFile(filepath.Join(acme.root, "outbox", "claims_1.csv"), claims, 0o644)
	os.WriteFile(filepath.Join(acme.root, "outbox", "other.txt"), []byte("not matched"), 0o644)

	g := newRig(t, map[string]*config.Partner{
		"acme":   sftpPartner("creditor", acme.cfg),
		"jansen": sftpPartner("internal", jansen.cfg),
		"cases":  localPartner("internal", cases),
	}, map[string]*config.Job{
		"in": {Source: config.Source{Partner: "acme", Dir: "/outbox", Match: "claims_*.csv", Settle: settle(time.Second), After: "move:/outbox/processed"},
			Destinations: []*config.Destination{
				{Partner: "cases", Dir: "/inbox"},
				{Partner: "jansen", Dir: "/in", DoneMarker: ".done", Checksum: true},
			}},
	})
	res, err := g.run("in")
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1 || res.Delivered != 2 || res.Bytes != int64(len(claims)) {
		t.Fatalf("result = %+v", res)
	}
	for _, p := range []string{filepath.Join(cases, "inbox", "claims_1.csv"), filepath.Join(jansen.root, "in", "claims_1.csv"),
		filepath.Join(acme.root, "outbox", "processed", "claims_1.csv")} {
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, claims) {
			t.Errorf("%s: %v; want the claims file byte for byte", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(acme.root, "outbox", "claims_1.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Error("source file still in the outbox after move")
	}
	if b, _ := os.ReadFile(filepath.Join(jansen.root, "in", "claims_1.csv.sha256")); string(b) != sum(claims)+"  claims_1.csv\n" {
		t.Errorf("checksum sidecar = %q", b)
	}
	if _, err := os.Stat(filepath.Join(jansen.root, "in", "claims_1.csv.done")); err != nil {
		t.Errorf("done marker: %v", err)
	}
	assertNoTempFiles(t, cases, jansen.root)
	g.stagingEmpty()

	// Ledger: one file, done, with its sha; two deliveries, delivered.
	f, err := g.ledger.Lookup("in", "acme", "/outbox", "claims_1.csv", int64(len(claims)), statMtime(t, filepath.Join(acme.root, "outbox", "processed", "claims_1.csv")))
	if err != nil {
		t.Fatal(err)
	}
	if f.State != ledger.StateDone || f.SHA256 != sum(claims) {
		t.Fatalf("ledger file = %+v", f)
	}
	dels, err := g.ledger.Deliveries(f.ID)
	if err != nil || len(dels) != 2 {
		t.Fatalf("deliveries = %v, %v", dels, err)
	}
	for _, d := range dels {
		if d.State != ledger.DeliveryDelivered || d.Name != "claims_1.csv" || d.Size != int64(len(claims)) {
			t.Errorf("delivery = %+v", d)
		}
	}
	// Logs: the agreed keys on each step, no contents.
	for _, msg := range []string{"file staged", "source cleaned", "file delivered", "staging removed", "run finished"} {
		ev := g.logs.FilterMessage(msg).All()
		if len(ev) == 0 {
			t.Fatalf("no %q event", msg)
		}
		fields := ev[0].ContextMap()
		for _, k := range map[string][]string{
			"file staged":     {"job", "run", "partner", "endpoint", "file", "bytes", "sha256", "duration", "outcome"},
			"file delivered":  {"job", "run", "partner", "endpoint", "file", "bytes", "sha256", "duration", "outcome"},
			"source cleaned":  {"job", "run", "partner", "file", "outcome"},
			"staging removed": {"job", "run", "partner", "file", "outcome", "sha256"},
			"run finished":    {"job", "run", "duration", "outcome"},
		}[msg] {
			if _, ok := fields[k]; !ok {
				t.Errorf("%q lacks key %q: %v", msg, k, fields)
			}
		}
	}
	g.checkLogs("J. de Vries", "NL91ABNA0417164300", "1.234,56", "K-1;")

	// A second run finds nothing new and changes nothing.
	res, err = g.run("in")
	if err != nil || res.Files != 0 || res.Delivered != 0 {
		t.Fatalf("second run = %+v, %v; want nothing", res, err)
	}
}

func assertNoTempFiles(t *testing.T, roots ...string) {
	t.Helper()
	for _, root := range roots {
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && strings.HasSuffix(p, ".part") {
				t.Errorf("temp file left: %s", p)
			}
			return nil
		})
	}
}

func statMtime(t *testing.T, p string) time.Time {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime().Truncate(time.Second) // SFTP lists whole seconds
}

// localJob is a job from one local dir to another.
func localRig(t *testing.T, src config.Source, dests ...*config.Destination) (*rig, string, string) {
	t.Helper()
	in, out := t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox", "done")
	mkdirs(t, out, "inbox")
	src.Partner, src.Dir = "creditor", "/outbox"
	if len(dests) == 0 {
		dests = []*config.Destination{{Partner: "cases", Dir: "/inbox"}}
	}
	g := newRig(t, map[string]*config.Partner{
		"creditor": localPartner("creditor", in),
		"cases":    localPartner("internal", out),
	}, map[string]*config.Job{"j": {Source: src, Destinations: dests}})
	return g, in, out
}

func TestKeepIsNotReimported(t *testing.T) {
	g, in, out := localRig(t, config.Source{After: "keep"})
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	if _, err := g.run("j"); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(out, "inbox", "a.csv")) // the case system took it
	res, err := g.run("j")
	if err != nil || res.Files != 0 {
		t.Fatalf("second run = %+v, %v; a kept file must not be imported again", res, err)
	}
	if _, err := os.Stat(filepath.Join(out, "inbox", "a.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("kept file delivered twice")
	}
	if _, err := os.Stat(filepath.Join(in, "outbox", "a.csv")); err != nil {
		t.Fatal("kept source file is gone")
	}
	// A new version of the file (other size) is a new file.
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), append(claims, claims...), 0o644)
	if res, err := g.run("j"); err != nil || res.Files != 1 {
		t.Fatalf("changed file: %+v, %v; want it imported", res, err)
	}
}

func TestNotSettledFileIsLeftAlone(t *testing.T) {
	g, in, out := localRig(t, config.Source{Settle: settle(30 * time.Second)})
	p := filepath.Join(in, "outbox", "growing.csv")
	os.WriteFile(p, claims, 0o644)
	g.runner.Sleep = func(context.Context, time.Duration) error {
		f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		f.Write(claims) // the creditor is still writing
		f.Close()
		return nil
	}
	res, err := g.run("j")
	if err != nil || res.Files != 0 {
		t.Fatalf("run = %+v, %v; want the growing file left alone", res, err)
	}
	if _, err := os.Stat(filepath.Join(out, "inbox", "growing.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a file still being written was delivered")
	}
	if ev := g.logs.FilterMessage("file not settled").All(); len(ev) != 1 || ev[0].ContextMap()["outcome"] != "changing" {
		t.Fatalf("want one 'file not settled' event, got %v", ev)
	}
	g.runner.Sleep = func(context.Context, time.Duration) error { return nil }
	if res, err := g.run("j"); err != nil || res.Files != 1 {
		t.Fatalf("once settled: %+v, %v", res, err)
	}
	b, _ := os.ReadFile(filepath.Join(out, "inbox", "growing.csv"))
	if !bytes.Equal(b, append(claims, claims...)) {
		t.Fatal("delivered file is not the whole file")
	}
}

func TestDoneMarker(t *testing.T) {
	g, in, out := localRig(t, config.Source{DoneMarker: ".done"})
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	if res, _ := g.run("j"); res.Files != 0 {
		t.Fatal("file taken before its done marker")
	}
	os.WriteFile(filepath.Join(in, "outbox", "a.csv.done"), nil, 0o644)
	if res, err := g.run("j"); err != nil || res.Files != 1 {
		t.Fatalf("with marker: %+v, %v", res, err)
	}
	for _, p := range []string{"a.csv", "a.csv.done"} {
		if _, err := os.Stat(filepath.Join(in, "outbox", p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left at the source", p)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "inbox", "a.csv")); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedNamesAndSymlinks(t *testing.T) {
	g, in, out := localRig(t, config.Source{})
	secret := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(secret, []byte("root:x:0:0"), 0o600)
	os.Symlink(secret, filepath.Join(in, "outbox", "link.csv"))
	os.WriteFile(filepath.Join(in, "outbox", "a..b.csv"), claims, 0o644)
	os.WriteFile(filepath.Join(in, "outbox", "bad\x1bname.csv"), claims, 0o644)
	res, err := g.run("j")
	if err != nil || res.Files != 0 {
		t.Fatalf("run = %+v, %v; want nothing taken", res, err)
	}
	ents, _ := os.ReadDir(filepath.Join(out, "inbox"))
	if len(ents) != 0 {
		t.Fatalf("delivered %v", ents)
	}
	sec := g.logs.FilterField(zap.Bool("security", true)).All()
	if len(sec) != 3 {
		t.Fatalf("want 3 security events (symlink, two names), got %d: %v", len(sec), sec)
	}
	if _, err := os.Stat(filepath.Join(in, "outbox", "link.csv")); err != nil {
		t.Fatal("refused file was touched")
	}
}

func TestDestinationTakenIsNotOverwritten(t *testing.T) {
	g, in, out := localRig(t, config.Source{})
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	os.WriteFile(filepath.Join(out, "inbox", "a.csv"), []byte("yesterday's, not yet taken"), 0o644)
	res, err := g.run("j")
	if !errors.Is(err, ErrFilesFailed) || res.Failed != 1 {
		t.Fatalf("run = %+v, %v; want the file failed", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "inbox", "a.csv")); string(b) != "yesterday's, not yet taken" {
		t.Fatal("partner's file was overwritten")
	}
	if ids, _ := g.runner.Staging().IDs(); len(ids) != 1 {
		t.Fatal("file not kept in staging")
	}
	// The partner takes its file; the next run delivers ours.
	os.Remove(filepath.Join(out, "inbox", "a.csv"))
	res, err = g.run("j")
	if err != nil || res.Files != 1 {
		t.Fatalf("after the partner took its file: %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "inbox", "a.csv")); !bytes.Equal(b, claims) {
		t.Fatal("file not delivered")
	}
	assertNoTempFiles(t, out)
	g.stagingEmpty()
}

func TestDestinationDownKeepsFileStaged(t *testing.T) {
	dst := startInproc(t, sftpd.Options{})
	in := t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, dst.root, "in")
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	g := newRig(t, map[string]*config.Partner{
		"cases": localPartner("internal", in),
		"acme":  sftpPartner("creditor", dst.cfg),
	}, map[string]*config.Job{"out": {Source: config.Source{Partner: "cases", Dir: "/outbox"},
		Destinations: []*config.Destination{{Partner: "acme", Dir: "/in"}}}})
	dst.srv.Close()
	var events []Event
	g.runner.Observe = func(e Event) {
		if e.Outcome == "failed" {
			events = append(events, e)
		}
	}
	res, err := g.run("out")
	if err == nil || res.Failed == 0 {
		t.Fatalf("run = %+v, %v; want a failure", res, err)
	}
	// The failure counts against the destination, not the source.
	if len(events) != 1 || events[0].Step != "deliver" || events[0].Partner != "acme" {
		t.Errorf("failed events = %+v, want one deliver failure of partner acme", events)
	}
	if ev := g.logs.FilterMessage("file failed").All(); len(ev) != 1 || fmtAny(ev[0].ContextMap()["destinations"]) != "[acme]" {
		t.Errorf("file failed events = %v", ev)
	}
	if _, err := os.Stat(filepath.Join(in, "outbox", "a.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("source not cleaned although the staged copy is durable")
	}
	if ids, _ := g.runner.Staging().IDs(); len(ids) != 1 {
		t.Fatalf("staging = %v; the undelivered file must stay staged", ids)
	}
	pend, _ := g.ledger.Pending("out")
	if len(pend) != 1 || pend[0].State != ledger.StateTransformed || pend[0].Attempts != 1 {
		t.Fatalf("pending = %+v", pend)
	}
}

func TestStagingDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "size=64k")
	g, in, out := localRig(t, config.Source{})
	g.runner.staging.dir = dir
	big := bytes.Repeat([]byte("x"), 256<<10)
	os.WriteFile(filepath.Join(in, "outbox", "big.csv"), big, 0o644)
	res, err := g.run("j")
	if err == nil || res.Failed != 1 {
		t.Fatalf("run = %+v, %v; want the file failed", res, err)
	}
	ev := g.logs.FilterMessage("file failed").All()
	if len(ev) != 1 || !strings.Contains(ev[0].ContextMap()["error"].(string), "no space left") || ev[0].ContextMap()["permanent"] != true {
		t.Fatalf("want a clear 'no space left' failure, got %v", ev)
	}
	if b, _ := os.ReadFile(filepath.Join(in, "outbox", "big.csv")); !bytes.Equal(b, big) {
		t.Fatal("source file lost or changed")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("staging left with %v", ents)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Fatal("something was delivered")
	}
	if pend, _ := g.ledger.Pending("j"); len(pend) != 0 {
		t.Fatalf("ledger holds %v for a file never staged", pend)
	}
}

func TestStagingReadOnly(t *testing.T) {
	dir := mountTmpfs(t, "size=1m")
	if err := exec("mount", "-o", "remount,ro", dir); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStaging(filepath.Join(dir, "staging"), stagingKey(t))
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("OpenStaging on a read-only disk = %v; want a clear error", err)
	}
}

// After a reload the old and the new runner share a partner's connection
// limit: with max_conns 1, a connection of the old runner's leaves none
// for the new one until it is closed. A partner whose limit changed gets
// a limit of its own.
func TestReloadSharesConnectionLimit(t *testing.T) {
	s := startInproc(t, sftpd.Options{})
	cfg := s.cfg
	cfg.MaxConns, cfg.Timeout = 1, config.Duration(100*time.Millisecond)
	mk := func(otherConns int) *rig {
		other := cfg
		other.MaxConns = otherConns
		return newRig(t, map[string]*config.Partner{
			"acme": sftpPartner("creditor", cfg), "other": sftpPartner("creditor", other),
		}, map[string]*config.Job{"j": {Source: config.Source{Partner: "acme", Dir: "/"}}})
	}
	old, next := mk(2), mk(3) // the reload changes other's max_conns only
	next.runner.ShareLimits(old.runner)

	held := sftp.New("acme", cfg, nil, old.runner.sems["acme"])
	defer held.Close()
	if _, err := held.List(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	ep := sftp.New("acme", cfg, nil, next.runner.sems["acme"])
	defer ep.Close()
	if _, err := ep.List(context.Background(), "/"); err == nil || !strings.Contains(err.Error(), "no free connection") {
		t.Fatalf("new runner's connection while the old one holds the only slot: %v", err)
	}
	held.Close()
	if _, err := ep.List(context.Background(), "/"); err != nil {
		t.Fatalf("after the old connection closed: %v", err)
	}
	if next.runner.sems["other"] == old.runner.sems["other"] || cap(next.runner.sems["other"]) != 3 {
		t.Error("a partner whose max_conns changed shares the old limit")
	}
}

// A staged copy that cannot be removed once its file was recorded done
// (the staging disk turned read-only under the delivery) is logged as an
// error and swept at the next run, not left for the next start.
func TestDoneStagingSweptNextRun(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, out, "inbox")
	g := newRig(t, map[string]*config.Partner{"creditor": localPartner("creditor", in), "cases": localPartner("internal", out)},
		map[string]*config.Job{"j": {Source: config.Source{Partner: "creditor", Dir: "/outbox"},
			Destinations: []*config.Destination{{Partner: "cases", Dir: "/inbox"}}}})
	staging := filepath.Join(g.cfg.StateDir, "staging")
	if err := exec("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", staging); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs a tmpfs for this test: %v", err)
		}
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = exec("umount", "-l", staging) })
	g = openRig(t, g.cfg) // a runner whose staging is the tmpfs
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "cases" {
			return roAfterRename{ep, staging}
		}
		return ep
	}
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), []byte("x;y\n"), 0o644)
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("first run = %+v, %v", res, err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "inbox", "a.csv")); string(got) != "x;y\n" {
		t.Fatalf("delivered %q", got)
	}
	if n := g.logs.FilterMessage("staging not removed").Len(); n != 1 || g.logs.FilterMessage("staging removed").Len() != 0 {
		t.Fatalf("%d 'staging not removed' events, %d 'staging removed'", n, g.logs.FilterMessage("staging removed").Len())
	}
	if ids, _ := g.runner.Staging().IDs(); len(ids) != 1 {
		t.Fatalf("staging holds %v, want the copy it could not remove", ids)
	}
	if err := exec("mount", "-o", "remount,rw", staging); err != nil {
		t.Fatal(err)
	}
	g.runner.wrapEndpoint = nil
	if res, err := g.run("j"); err != nil || res.Delivered != 0 {
		t.Fatalf("second run = %+v, %v", res, err)
	}
	g.stagingEmpty()
	if g.logs.FilterMessage("staging swept").Len() != 1 {
		t.Fatal("the second run did not sweep the copy")
	}
}

// roAfterRename turns the staging mount read-only once a delivery's
// rename is done.
type roAfterRename struct {
	endpoint.Endpoint
	staging string
}

func (e roAfterRename) Rename(ctx context.Context, from, to string) error {
	err := e.Endpoint.Rename(ctx, from, to)
	if err == nil {
		err = exec("mount", "-o", "remount,ro", e.staging)
	}
	return err
}
