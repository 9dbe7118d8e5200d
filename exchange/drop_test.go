package exchange

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/ledger"
)

// dropRig delivers the files of a local creditor outbox, through the
// transform (so that the ledger records data subjects), to a bailiff on
// an in-process SFTP server started with opts, in dir /in.
func dropRig(t *testing.T, opts sftpd.Options, dest config.Destination) (*rig, string, *inproc) {
	t.Helper()
	srv := startInproc(t, opts)
	mkdirs(t, srv.root, "in")
	g, acme := dropRigTo(t, srv.cfg, "/in", dest)
	return g, acme, srv
}

// dropRigTo is dropRig for the bailiff's SFTP server at cfg, directory dir.
func dropRigTo(t *testing.T, cfg config.SFTP, dir string, dest config.Destination) (*rig, string) {
	t.Helper()
	acme := t.TempDir()
	mkdirs(t, acme, "outbox")
	dest.Partner, dest.Dir, dest.Profile = "gdw", dir, "bailiff"
	g := newRig(t, map[string]*config.Partner{
		"acme": localPartner("creditor", acme),
		"gdw":  sftpPartner("bailiff", cfg),
	}, map[string]*config.Job{"claims-in": {
		Source:       config.Source{Partner: "acme", Dir: "/outbox", Match: "*.csv", Settle: settle(1)},
		Transform:    &config.Transform{Layout: "acme-claims", Profile: "bailiff"},
		Destinations: []*config.Destination{&dest},
	}})
	g.cfg.Layouts = acmeClaimsLayout()
	if err := CheckConfig(g.cfg); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(acme, "outbox", "claims_1.csv"), excelClaims(t), 0o644)
	return g, acme
}

// disclosed returns the disclosures of debtor K-1 of excelClaims.
func (g *rig) disclosed() []ledger.Disclosure {
	g.t.Helper()
	ds, err := g.ledger.Disclosures(g.ledger.Pseudonym("acme", "K-1"))
	if err != nil {
		g.t.Fatal(err)
	}
	return ds
}

// dirNames returns the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// failure returns the error of the last "file failed" event.
func (g *rig) failure() string {
	g.t.Helper()
	ev := g.logs.FilterMessage("file failed").All()
	if len(ev) == 0 {
		g.t.Fatal("no file failed event")
	}
	return ev[len(ev)-1].ContextMap()["error"].(string)
}

// A write-only drop folder and upload: temp: the partner refuses the stat
// that checks the upload and the removal of the temp file. The failure is
// permanent and says what was refused; the temp file left is an error
// event; and the disclosure is in the ledger, sent, though nothing was
// confirmed. Switched to upload: direct, the same delivery completes
// under the final name, once.
func TestDropFolderTempThenDirect(t *testing.T) {
	g, _, srv := dropRig(t, sftpd.Options{Deny: sftpd.WriteOnly}, config.Destination{DoneMarker: ".done"})
	res, err := g.run("claims-in")
	if !errors.Is(err, ErrFilesFailed) || res.Delivered != 0 {
		t.Fatalf("run = %+v, %v; want the delivery refused", res, err)
	}
	msg := g.failure()
	if !strings.Contains(msg, "partner refused stat (permission denied)") || !strings.Contains(msg, "use upload: direct") {
		t.Errorf("failure = %q, want it to name the refused stat and suggest upload: direct", msg)
	}
	if ev := g.logs.FilterMessage("file failed").All(); ev[len(ev)-1].ContextMap()["permanent"] != true {
		t.Error("a refused permission is not a permanent failure")
	}
	in := filepath.Join(srv.root, "in")
	left := dirNames(t, in)
	if len(left) != 1 || !strings.HasPrefix(left[0], tempPrefix) {
		t.Fatalf("drop folder holds %v, want our one temp file", left)
	}
	ev := g.logs.FilterMessage("temporary file not removed").All()
	if len(ev) != 1 || ev[0].ContextMap()["partner"] != "gdw" || ev[0].ContextMap()["file"] != "/in/"+left[0] {
		t.Fatalf("temp file left without an error event naming partner and file: %v", ev)
	}
	ds := g.disclosed()
	if len(ds) != 1 || ds[0].Partner != "gdw" || ds[0].State != ledger.DisclosureSent {
		t.Fatalf("disclosures = %+v, want one sent to gdw", ds)
	}

	g.cfg.Jobs["claims-in"].Destinations[0].Upload = config.UploadDirect
	res, err = g.run("claims-in")
	if err != nil || res.Delivered != 1 {
		t.Fatalf("run in direct mode = %+v, %v", res, err)
	}
	if got := dirNames(t, in); len(got) != 3 || got[0] != left[0] || got[1] != "claims_1.csv" || got[2] != "claims_1.csv.done" {
		t.Fatalf("drop folder = %v, want the old temp file (refused removal), the file and its marker", got)
	}
	if b, _ := os.ReadFile(filepath.Join(in, "claims_1.csv")); !bytes.Contains(b, []byte("K-1")) {
		t.Errorf("delivered file = %q", b)
	}
	if ds := g.disclosed(); len(ds) != 1 || ds[0].State != ledger.DisclosureConfirmed {
		t.Errorf("disclosures = %+v, want the one confirmed", ds)
	}
	dels, _ := g.ledger.Deliveries(g.files("claims-in")[0].ID)
	if len(dels) != 1 || dels[0].Mode != ledger.ModeDirect || dels[0].TempName != left[0] {
		t.Errorf("delivery = %+v, want direct, its old temp name on record", dels)
	}
	if n := len(g.logs.FilterMessage("temporary file not removed").All()); n != 2 {
		t.Errorf("%d events for the temp file left, want one per failed removal (2)", n)
	}
	g.stagingEmpty()
}

// upload: direct into a write-only folder: the file, its checksum and its
// done marker arrive under their final names, once; nothing else is
// asked of the server.
func TestDropFolderDirect(t *testing.T) {
	g, _, srv := dropRig(t, sftpd.Options{Deny: sftpd.WriteOnly},
		config.Destination{Upload: config.UploadDirect, DoneMarker: ".done", Checksum: true})
	res, err := g.run("claims-in")
	if err != nil || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	in := filepath.Join(srv.root, "in")
	if got := strings.Join(dirNames(t, in), " "); got != "claims_1.csv claims_1.csv.done claims_1.csv.sha256" {
		t.Fatalf("drop folder = %q", got)
	}
	b, _ := os.ReadFile(filepath.Join(in, "claims_1.csv"))
	if s, _ := os.ReadFile(filepath.Join(in, "claims_1.csv.sha256")); string(s) != sum(b)+"  claims_1.csv\n" {
		t.Errorf("checksum file = %q", s)
	}
	if ds := g.disclosed(); len(ds) != 1 || ds[0].State != ledger.DisclosureConfirmed {
		t.Errorf("disclosures = %+v", ds)
	}
	g.stagingEmpty()
}

// failWrite fails every upload of one destination halfway, as a crash or a
// lost connection would, leaving what was written.
type failWrite struct {
	endpoint.Endpoint
	after int
}

func (f failWrite) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	w, err := f.Endpoint.Create(ctx, p)
	if err != nil || strings.HasSuffix(p, ".done") {
		return w, err
	}
	return &halfWriter{WriteFile: w, left: f.after}, nil
}

type halfWriter struct {
	endpoint.WriteFile
	left int
}

func (w *halfWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n, _ := w.WriteFile.Write(p[:w.left])
		w.left -= n
		return n, errors.New("test: cut off")
	}
	w.left -= len(p)
	return w.WriteFile.Write(p)
}

// cutUploads cuts every upload to gdw off after 20 bytes, for as long as
// the flag it returns is set, and makes one try per run.
func cutUploads(g *rig) *bool {
	cut := true
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "gdw" && cut {
			return failWrite{Endpoint: ep, after: 20}
		}
		return ep
	}
	g.runner.Retry.Attempts = 1
	return &cut
}

// A direct upload cut off in a write-only folder leaves a partial file
// under the final name that we may not remove: it is reported, the
// delivery fails permanently with ErrPartialLeft and is never recorded as
// delivered. Once the partner has removed it, the next run writes the
// file whole, under the same name.
func TestDirectPartialLeft(t *testing.T) {
	g, _, srv := dropRig(t, sftpd.Options{Deny: sftpd.WriteOnly},
		config.Destination{Upload: config.UploadDirect, DoneMarker: ".done"})
	cut := cutUploads(g)
	if _, err := g.run("claims-in"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("first run: %v", err)
	}
	in := filepath.Join(srv.root, "in")
	if b, _ := os.ReadFile(filepath.Join(in, "claims_1.csv")); len(b) != 20 {
		t.Fatalf("partial file of %d bytes, want the 20 written", len(b))
	}
	if ev := g.logs.FilterMessage("partial file not removed").All(); len(ev) != 1 || ev[0].ContextMap()["file"] != "/in/claims_1.csv" {
		t.Errorf("partial file left without an error event: %v", ev)
	}
	*cut = false
	if _, err := g.run("claims-in"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("second run: %v", err)
	}
	if msg := g.failure(); !strings.Contains(msg, ErrPartialLeft.Error()) || !strings.Contains(msg, "ask gdw to remove it") {
		t.Errorf("failure = %q, want ErrPartialLeft asking ops", msg)
	}
	if ds := g.disclosed(); len(ds) != 1 || ds[0].State != ledger.DisclosureSent {
		t.Errorf("disclosures = %+v, want one sent, not confirmed", ds)
	}
	if got := strings.Join(dirNames(t, in), " "); got != "claims_1.csv" {
		t.Errorf("drop folder = %q, want the partial file alone (no marker, no second name)", got)
	}

	os.Remove(filepath.Join(in, "claims_1.csv")) // the partner, asked by ops
	res, err := g.run("claims-in")
	if err != nil || res.Delivered != 1 {
		t.Fatalf("run after the partner removed it = %+v, %v", res, err)
	}
	if got := strings.Join(dirNames(t, in), " "); got != "claims_1.csv claims_1.csv.done" {
		t.Errorf("drop folder = %q", got)
	}
	if ds := g.disclosed(); len(ds) != 1 || ds[0].State != ledger.DisclosureConfirmed {
		t.Errorf("disclosures = %+v, want the one confirmed", ds)
	}
}

// Where the partner lets us remove it, a partial file of an interrupted
// direct upload is removed and the file written again whole, once.
func TestDirectPartialRewritten(t *testing.T) {
	g, _, srv := dropRig(t, sftpd.Options{Deny: []string{"stat", "list", "read", "rename", "link"}},
		config.Destination{Upload: config.UploadDirect, DoneMarker: ".done"})
	cut := cutUploads(g)
	g.run("claims-in")
	in := filepath.Join(srv.root, "in")
	if got := strings.Join(dirNames(t, in), " "); got != "" {
		t.Fatalf("drop folder after a failed upload = %q, want the partial file removed", got)
	}
	// As a crash would leave it: a partial file, the delivery writing.
	os.WriteFile(filepath.Join(in, "claims_1.csv"), []byte("Dossier;Fac"), 0o600)
	*cut = false
	res, err := g.run("claims-in")
	if err != nil || res.Delivered != 1 {
		t.Fatalf("resumed run = %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(in, "claims_1.csv")); !bytes.Contains(b, []byte("K-3")) {
		t.Errorf("file after resume = %q, want it whole", b)
	}
	if len(g.logs.FilterMessage("partial file removed").All()) != 1 {
		t.Error("no event for the partial file removed")
	}
}

// upload: temp where the partner refuses the rename (and the hard link):
// the failure names the rename; the complete temp file waits, the
// disclosure is sent. Switched to direct, the delivery removes its temp
// file and completes under the final name.
func TestRenameRefusedThenDirect(t *testing.T) {
	g, _, srv := dropRig(t, sftpd.Options{Deny: []string{"rename", "link"}}, config.Destination{})
	if _, err := g.run("claims-in"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run: %v", err)
	}
	if msg := g.failure(); !strings.Contains(msg, "partner refused rename (permission denied): use upload: direct") {
		t.Errorf("failure = %q", msg)
	}
	in := filepath.Join(srv.root, "in")
	if got := dirNames(t, in); len(got) != 1 || !strings.HasPrefix(got[0], tempPrefix) {
		t.Fatalf("drop folder = %v, want the complete temp file", got)
	}
	dels, _ := g.ledger.Deliveries(g.files("claims-in")[0].ID)
	if len(dels) != 1 || dels[0].State != ledger.DeliveryUploaded {
		t.Fatalf("deliveries = %+v", dels)
	}
	if ds := g.disclosed(); len(ds) != 1 || ds[0].State != ledger.DisclosureSent {
		t.Fatalf("disclosures = %+v", ds)
	}
	g.cfg.Jobs["claims-in"].Destinations[0].Upload = config.UploadDirect
	if res, err := g.run("claims-in"); err != nil || res.Delivered != 1 {
		t.Fatalf("run in direct mode = %+v, %v", res, err)
	}
	if got := strings.Join(dirNames(t, in), " "); got != "claims_1.csv" {
		t.Errorf("drop folder = %q, want the file alone", got)
	}
	if ds := g.disclosed(); len(ds) != 1 || ds[0].State != ledger.DisclosureConfirmed {
		t.Errorf("disclosures = %+v", ds)
	}
}

// passRig delivers unchanged files from a local outbox to an in-process
// SFTP server started with opts, in /in.
func passRig(t *testing.T, opts sftpd.Options, dest config.Destination) (*rig, string, *inproc) {
	t.Helper()
	src := t.TempDir()
	mkdirs(t, src, "outbox")
	srv := startInproc(t, opts)
	mkdirs(t, srv.root, "in")
	dest.Partner, dest.Dir = "cases", "/in"
	g := newRig(t, map[string]*config.Partner{
		"acme":  localPartner("creditor", src),
		"cases": sftpPartner("internal", srv.cfg),
	}, map[string]*config.Job{"j": {
		Source:       config.Source{Partner: "acme", Dir: "/outbox", Match: "*", Settle: settle(1)},
		Destinations: []*config.Destination{&dest},
	}})
	return g, filepath.Join(src, "outbox"), srv
}

// A pass-through file carries no data subjects; its delivery is in the
// ledger (partner, file, time, sent) before the upload begins.
func TestPassThroughDeliveryRecordedBeforeUpload(t *testing.T) {
	g, outbox, srv := passRig(t, sftpd.Options{}, config.Destination{})
	os.WriteFile(filepath.Join(outbox, "a.csv"), claims, 0o644)
	var seen []ledger.Delivery
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner != "cases" {
			return ep
		}
		return createHook{Endpoint: ep, hook: func() {
			f := g.files("j")[0]
			seen, _ = g.ledger.Deliveries(f.ID)
		}}
	}
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if len(seen) != 1 || seen[0].Partner != "cases" || seen[0].Name != "a.csv" || seen[0].State != ledger.DeliveryStarted ||
		seen[0].StartedAt.IsZero() {
		t.Fatalf("deliveries when the upload began = %+v, want one started to cases", seen)
	}
	assertNoTempFiles(t, srv.root)
}

type createHook struct {
	endpoint.Endpoint
	hook func()
}

func (c createHook) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	c.hook()
	return c.Endpoint.Create(ctx, p)
}

// Renames never replace: on a server whose plain rename would replace
// (SFTPGo with overwrite permission), hardlink@openssh.com refuses an
// existing target atomically; without the extension the check before the
// rename finds it. On a server that answers an existing target with
// status 11 (ProFTPD), that is the destination taken, in either mode.
func TestRenameNeverReplaces(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   sftpd.Options
		upload string
	}{
		{"hardlink, rename replaces", sftpd.Options{RenameReplaces: true}, config.UploadTemp},
		{"no hardlink, rename replaces", sftpd.Options{RenameReplaces: true, NoHardlink: true}, config.UploadTemp},
		{"status 11, hardlink", sftpd.Options{ExistsStatus: true}, config.UploadTemp},
		{"status 11, plain rename", sftpd.Options{ExistsStatus: true, NoHardlink: true}, config.UploadTemp},
		{"status 11, direct", sftpd.Options{ExistsStatus: true, Deny: sftpd.WriteOnly}, config.UploadDirect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, outbox, srv := passRig(t, tc.opts, config.Destination{Upload: tc.upload})
			os.WriteFile(filepath.Join(outbox, "a.csv"), claims, 0o644)
			theirs := filepath.Join(srv.root, "in", "a.csv")
			os.WriteFile(theirs, []byte("the partner's earlier file"), 0o600)
			if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
				t.Fatalf("run: %v", err)
			}
			if msg := g.failure(); !strings.Contains(msg, ErrDestinationTaken.Error()) {
				t.Errorf("failure = %q, want the destination taken", msg)
			}
			if b, _ := os.ReadFile(theirs); string(b) != "the partner's earlier file" {
				t.Fatalf("the partner's file was replaced: %q", b)
			}
			os.Remove(theirs) // the partner takes it
			if res, err := g.run("j"); err != nil || res.Delivered != 1 {
				t.Fatalf("next run = %+v, %v", res, err)
			}
			if b, _ := os.ReadFile(theirs); !bytes.Equal(b, claims) {
				t.Errorf("delivered %q", b)
			}
			if got := strings.Join(dirNames(t, filepath.Join(srv.root, "in")), " "); got != "a.csv" {
				t.Errorf("in = %q, want a.csv alone", got)
			}
		})
	}
}

// With and without hardlink@openssh.com, a delivery ends under its final
// name with no temp file left.
func TestRenameWithAndWithoutHardlink(t *testing.T) {
	for _, opts := range []sftpd.Options{{}, {NoHardlink: true}} {
		g, outbox, srv := passRig(t, opts, config.Destination{DoneMarker: ".done", Checksum: true})
		os.WriteFile(filepath.Join(outbox, "a.csv"), claims, 0o644)
		if res, err := g.run("j"); err != nil || res.Delivered != 1 {
			t.Fatalf("NoHardlink %v: run = %+v, %v", opts.NoHardlink, res, err)
		}
		if got := strings.Join(dirNames(t, filepath.Join(srv.root, "in")), " "); got != "a.csv a.csv.done a.csv.sha256" {
			t.Errorf("NoHardlink %v: in = %q", opts.NoHardlink, got)
		}
	}
}

// linkThenLose makes the first rename a hard link and then loses the
// connection, as a crash between the link and the removal of the temp
// name would leave it.
type linkThenLose struct {
	endpoint.Endpoint
	root   string
	done   *bool
	suffix string // of the final name whose rename is cut short; "" for any
}

func (l linkThenLose) Rename(ctx context.Context, from, to string) error {
	if *l.done || !strings.HasPrefix(path.Base(from), tempPrefix) || !strings.HasSuffix(to, l.suffix) {
		return l.Endpoint.Rename(ctx, from, to)
	}
	*l.done = true
	if err := os.Link(filepath.Join(l.root, from), filepath.Join(l.root, to)); err != nil {
		return err
	}
	return errCrashed
}

// Remove does nothing once the crash has happened: a crashed process
// cleans nothing up.
func (l linkThenLose) Remove(ctx context.Context, p string) error {
	if *l.done && l.suffix != "" {
		return errCrashed
	}
	return l.Endpoint.Remove(ctx, p)
}

var errCrashed = errors.New("test: crashed between link and remove")

// A crash between link and remove, of the file or of its done marker: the
// final name and the temp name are one file. The next run recognizes it,
// removes the temp name and records the delivery, without a second copy.
func TestCrashBetweenLinkAndRemove(t *testing.T) {
	for _, suffix := range []string{"a.csv", ".done"} {
		t.Run(suffix, func(t *testing.T) {
			g, outbox, srv := passRig(t, sftpd.Options{}, config.Destination{DoneMarker: ".done"})
			os.WriteFile(filepath.Join(outbox, "a.csv"), claims, 0o644)
			done := false
			g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
				if partner == "cases" {
					return linkThenLose{Endpoint: ep, root: srv.root, done: &done, suffix: suffix}
				}
				return ep
			}
			g.runner.Retry.Attempts = 1
			if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
				t.Fatalf("first run: %v", err)
			}
			in := filepath.Join(srv.root, "in")
			if got := dirNames(t, in); len(got) < 2 || !strings.HasSuffix(got[len(got)-1], suffix) || !strings.HasPrefix(got[0], tempPrefix) {
				t.Fatalf("in after the crash = %v, want the temp name and the final name", got)
			}
			g.runner.wrapEndpoint = nil // the restart
			if res, err := g.run("j"); err != nil || res.Delivered != 1 {
				t.Fatalf("resumed run = %+v, %v", res, err)
			}
			if got := strings.Join(dirNames(t, in), " "); got != "a.csv a.csv.done" {
				t.Errorf("in = %q", got)
			}
			if b, _ := os.ReadFile(filepath.Join(in, "a.csv")); !bytes.Equal(b, claims) {
				t.Errorf("delivered %q", b)
			}
		})
	}
}

// Where the partner lets us link but not remove, the file is delivered
// under its final name and the temp name left is an error event.
func TestTempNameLeftAfterLink(t *testing.T) {
	g, outbox, srv := passRig(t, sftpd.Options{Deny: []string{"remove"}}, config.Destination{})
	os.WriteFile(filepath.Join(outbox, "a.csv"), claims, 0o644)
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	got := dirNames(t, filepath.Join(srv.root, "in"))
	if len(got) != 2 || got[1] != "a.csv" {
		t.Fatalf("in = %v", got)
	}
	ev := g.logs.FilterMessage("temporary file not removed").All()
	if len(ev) != 1 || ev[0].ContextMap()["file"] != "/in/"+got[0] || ev[0].ContextMap()["partner"] != "cases" {
		t.Errorf("events = %v, want one naming the temp file and partner", ev)
	}
}

// A delivery begun by the previous version, with its long temp name on
// record, resumes under that name after an upgrade.
func TestOldTempNameResumes(t *testing.T) {
	g, outbox, srv := passRig(t, sftpd.Options{}, config.Destination{DoneMarker: ".done"})
	os.WriteFile(filepath.Join(outbox, "a.csv"), claims, 0o644)
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "cases" {
			return renameFails{ep}
		}
		return ep
	}
	g.runner.Retry.Attempts = 1
	g.run("j")
	f := g.files("j")[0]
	dels, _ := g.ledger.Deliveries(f.ID)
	if len(dels) != 1 || dels[0].State != ledger.DeliveryUploaded {
		t.Fatalf("deliveries = %+v", dels)
	}
	// Rewrite the record and the file as the previous version made them.
	old := ".a.csv.0123456789ab.part"
	in := filepath.Join(srv.root, "in")
	if err := os.Rename(filepath.Join(in, dels[0].TempName), filepath.Join(in, old)); err != nil {
		t.Fatal(err)
	}
	setTempName(t, g, dels[0].ID, old)
	g.runner.wrapEndpoint = nil
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("run after upgrade = %+v, %v", res, err)
	}
	if got := strings.Join(dirNames(t, in), " "); got != "a.csv a.csv.done" {
		t.Errorf("in = %q", got)
	}
}

type renameFails struct{ endpoint.Endpoint }

func (renameFails) Rename(context.Context, string, string) error {
	return errors.New("test: rename fails")
}

// setTempName rewrites a delivery's temp name in the ledger database.
func setTempName(t *testing.T, g *rig, id int64, name string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(g.cfg.StateDir, "ledger.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE deliveries SET temp_name = ? WHERE id = ?`, name, id); err != nil {
		t.Fatal(err)
	}
}

// A 250-byte name is delivered through temp mode: the temp name does not
// grow with it.
func TestLongNameDelivered(t *testing.T) {
	name := strings.Repeat("n", 246) + ".csv"
	g, outbox, srv := passRig(t, sftpd.Options{}, config.Destination{DoneMarker: ".ok"})
	os.WriteFile(filepath.Join(outbox, name), claims, 0o644)
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(srv.root, "in", name)); !bytes.Equal(b, claims) {
		t.Errorf("delivered %q", b)
	}
	assertNoTempFiles(t, srv.root)

	lg, in, out := localRig(t, config.Source{Settle: settle(1)}, &config.Destination{Partner: "cases", Dir: "/inbox", DoneMarker: ".ok"})
	os.WriteFile(filepath.Join(in, "outbox", name), claims, 0o644)
	if res, err := lg.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("local run = %+v, %v", res, err)
	}
	if got := strings.Join(dirNames(t, filepath.Join(out, "inbox")), " "); got != name+" "+name+".ok" {
		t.Errorf("local inbox = %q", got)
	}
}

// Temp names are short, hidden, of one length whatever the final name,
// and unique.
func TestTempName(t *testing.T) {
	a, b := tempName(123456789, 0), tempName(123456789, 0)
	if a == b || !strings.HasPrefix(a, tempPrefix) || !strings.HasSuffix(a, ".part") || len(a) > 64 {
		t.Errorf("tempName = %q, %q", a, b)
	}
	if r := tempName(1, rejectsIndex); !strings.Contains(r, "-1-r-") {
		t.Errorf("temp name of a reject report = %q", r)
	}
	if err := endpoint.CheckName(a); err != nil {
		t.Error(err)
	}
}

// createThenCrash creates the file it is asked to, then fails as a crash
// right after would: the file stands, empty, and nothing was recorded.
type createThenCrash struct{ endpoint.Endpoint }

func (c createThenCrash) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	w, err := c.Endpoint.Create(ctx, p)
	if err == nil {
		w.Close()
		err = errCrashed
	}
	return nil, err
}

// A crash between the creation of a direct delivery's file and its record
// leaves an empty file: where the server allows a stat, the next run sees
// that it is empty and newer than the delivery, and writes the file. An
// empty file of the partner's, there before, is left alone; so is any
// file where nothing can be looked at.
func TestDirectEmptyFileAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name      string
		deny      []string
		theirs    bool // the empty file was there before the delivery
		delivered bool
	}{
		{"ours, stat allowed", []string{"list", "read", "rename", "link"}, false, true},
		{"ours, write-only", sftpd.WriteOnly, false, false},
		{"the partner's", []string{"list", "read", "rename", "link"}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _, srv := dropRig(t, sftpd.Options{Deny: tc.deny, ExistsStatus: true},
				config.Destination{Upload: config.UploadDirect})
			final := filepath.Join(srv.root, "in", "claims_1.csv")
			g.runner.Retry.Attempts = 1
			if tc.theirs {
				os.WriteFile(final, nil, 0o600)
				os.Chtimes(final, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
			} else {
				g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
					if partner == "gdw" {
						return createThenCrash{ep}
					}
					return ep
				}
			}
			g.run("claims-in")
			g.runner.wrapEndpoint = nil
			if fi, err := os.Stat(final); err != nil || fi.Size() != 0 {
				t.Fatalf("after the first run: %v, %v; want an empty file", fi, err)
			}
			res, err := g.run("claims-in")
			if got := res.Delivered == 1 && err == nil; got != tc.delivered {
				t.Fatalf("second run = %+v, %v; delivered %v, want %v", res, err, got, tc.delivered)
			}
			b, _ := os.ReadFile(final)
			if tc.delivered != (len(b) > 0) {
				t.Errorf("file holds %d bytes", len(b))
			}
			if !tc.delivered && !strings.Contains(g.failure(), ErrDestinationTaken.Error()) {
				t.Errorf("failure = %q, want the destination taken", g.failure())
			}
		})
	}
}

type failCreate struct{ endpoint.Endpoint }

func (f failCreate) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	return nil, errCrashed
}

// A direct delivery whose create was sent but not answered (a crash)
// finds an empty file under its name: one that another delivery of ours
// made lately is not taken for the one its own create left, and stays.
func TestDirectEmptyFileDeliveredBeforeIsKept(t *testing.T) {
	g, outbox, srv := passRig(t, sftpd.Options{Deny: []string{"list", "read", "rename", "link"}, ExistsStatus: true},
		config.Destination{Upload: config.UploadDirect})
	g.runner.Retry.Attempts = 1
	final := filepath.Join(srv.root, "in", "a.csv")
	os.WriteFile(filepath.Join(outbox, "a.csv"), nil, 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(outbox, "a.csv"), old, old)
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("first run = %+v, %v", res, err)
	}
	// A second file of that name; its create is lost to a crash.
	os.WriteFile(filepath.Join(outbox, "a.csv"), []byte("second file\n"), 0o644)
	g.wrap("cases", func(ep endpoint.Endpoint) endpoint.Endpoint { return failCreate{ep} })
	g.run("j")
	g.runner.wrapEndpoint = nil
	res, err := g.run("j")
	if err == nil || res.Delivered != 0 || !strings.Contains(g.failure(), ErrDestinationTaken.Error()) {
		t.Errorf("third run = %+v, %v; want the destination taken", res, err)
	}
	if b, err := os.ReadFile(final); err != nil || len(b) != 0 {
		t.Errorf("the empty file delivered first = %q, %v; want it kept", b, err)
	}
}

type failDone struct{ endpoint.Endpoint }

func (f failDone) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	if strings.HasSuffix(p, "-done.part") {
		return nil, errCrashed
	}
	return f.Endpoint.Create(ctx, p)
}

type statRefused struct{ endpoint.Endpoint }

func (s statRefused) Stat(ctx context.Context, p string) (endpoint.FileInfo, error) {
	return endpoint.FileInfo{}, &endpoint.RefusedError{Op: "stat", Err: os.ErrPermission}
}

// A temp-mode delivery renamed to its final name but not recorded
// delivered (its done marker failed), the partner takes the file, the
// destination is switched to direct and refuses a stat: the delivery may
// stand, so it is not written again but fails permanently, asking ops.
func TestToDirectAfterRenameNotRewritten(t *testing.T) {
	g, outbox, srv := passRig(t, sftpd.Options{}, config.Destination{DoneMarker: ".done"})
	g.runner.Retry.Attempts = 1
	os.WriteFile(filepath.Join(outbox, "a.csv"), claims, 0o644)
	g.wrap("cases", func(ep endpoint.Endpoint) endpoint.Endpoint { return failDone{ep} })
	g.run("j")
	final := filepath.Join(srv.root, "in", "a.csv")
	if _, err := os.Stat(final); err != nil {
		t.Fatalf("final not there after the first run: %v", err)
	}
	os.Remove(final) // the partner took it
	g.cfg.Jobs["j"].Destinations[0].Upload = config.UploadDirect
	g.wrap("cases", func(ep endpoint.Endpoint) endpoint.Endpoint { return statRefused{ep} })
	res, err := g.run("j")
	if _, ferr := os.Stat(final); ferr == nil {
		t.Fatalf("a file the partner already took was delivered again (run = %+v, %v)", res, err)
	}
	if msg := g.failure(); !strings.Contains(msg, ErrMayStand.Error()) || !strings.Contains(msg, "ask cases whether a.csv stands in /in") {
		t.Errorf("failure = %q, want ErrMayStand asking ops", msg)
	}
}

// A delivery uploaded before finds its final name taken when it renames:
// a file alike to its temp file by lstat, but of other bytes, is not taken
// for a link of ours left by a crash. The delivery waits; ours stays.
func TestResumedRenameOntoOtherFileWaits(t *testing.T) {
	g, outbox, srv := passRig(t, sftpd.Options{}, config.Destination{})
	g.runner.Retry.Attempts = 1
	os.WriteFile(filepath.Join(outbox, "a.csv"), claims, 0o644)
	g.wrap("cases", func(ep endpoint.Endpoint) endpoint.Endpoint { return renameFails{ep} })
	g.run("j")
	g.runner.wrapEndpoint = nil
	dels, _ := g.ledger.Deliveries(g.files("j")[0].ID)
	if len(dels) != 1 || dels[0].State != ledger.DeliveryUploaded {
		t.Fatalf("deliveries = %+v", dels)
	}
	in := filepath.Join(srv.root, "in")
	tmp, final := filepath.Join(in, dels[0].TempName), filepath.Join(in, "a.csv")
	other := bytes.ToUpper(claims) // one size, other bytes
	sftptest.WriteAlike(t, final, string(other), tmp, string(claims))
	if res, err := g.run("j"); err == nil || res.Delivered != 0 || !strings.Contains(g.failure(), ErrDestinationTaken.Error()) {
		t.Fatalf("run = %+v, %v; want the destination taken", res, err)
	}
	if b, _ := os.ReadFile(tmp); !bytes.Equal(b, claims) {
		t.Fatalf("our temp file = %q, want it kept", b)
	}
	if b, _ := os.ReadFile(final); !bytes.Equal(b, other) {
		t.Fatalf("the other file = %q", b)
	}
	os.Remove(final) // the partner takes it
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("run after = %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(final); !bytes.Equal(b, claims) {
		t.Errorf("delivered %q", b)
	}
	assertNoTempFiles(t, srv.root)
}

// A crash between link and remove where the partner refuses reading: the
// resumed delivery, which cannot compare the bytes, takes the final name
// for its link by lstat (as only it may), and completes.
func TestCrashBetweenLinkAndRemoveReadRefused(t *testing.T) {
	g, outbox, srv := passRig(t, sftpd.Options{Deny: []string{"read"}}, config.Destination{})
	os.WriteFile(filepath.Join(outbox, "a.csv"), claims, 0o644)
	done := false
	g.wrap("cases", func(ep endpoint.Endpoint) endpoint.Endpoint {
		return linkThenLose{Endpoint: ep, root: srv.root, done: &done, suffix: "a.csv"}
	})
	g.runner.Retry.Attempts = 1
	g.run("j")
	g.runner.wrapEndpoint = nil
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("resumed run = %+v, %v", res, err)
	}
	if got := strings.Join(dirNames(t, filepath.Join(srv.root, "in")), " "); got != "a.csv" {
		t.Errorf("in = %q", got)
	}
	if len(g.logs.FilterMessage("final file not readable").All()) != 1 {
		t.Error("no event for the comparison by metadata")
	}
}

// A direct delivery resumed while writing removes what stands under its
// name only if it may be its partial file: a regular file no larger than
// its own, made since it began. Another file stays: the destination is
// taken.
func TestDirectWritingLeavesOtherFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		age  time.Duration
	}{
		{"larger", strings.Repeat("x", 100000), 0},
		{"older", "Dossier;Fac", 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _, srv := dropRig(t, sftpd.Options{Deny: []string{"list", "read", "rename", "link"}},
				config.Destination{Upload: config.UploadDirect})
			cut := cutUploads(g)
			g.run("claims-in")
			*cut = false
			dels, _ := g.ledger.Deliveries(g.files("claims-in")[0].ID)
			if len(dels) != 1 || dels[0].State != ledger.DeliveryWriting {
				t.Fatalf("deliveries = %+v, want one writing", dels)
			}
			final := filepath.Join(srv.root, "in", "claims_1.csv")
			os.WriteFile(final, []byte(tc.data), 0o600)
			at := time.Now().Add(-tc.age)
			os.Chtimes(final, at, at)
			if res, err := g.run("claims-in"); err == nil || res.Delivered != 0 || !strings.Contains(g.failure(), ErrDestinationTaken.Error()) {
				t.Fatalf("run = %+v, %v; want the destination taken", res, err)
			}
			if b, _ := os.ReadFile(final); string(b) != tc.data {
				t.Errorf("the file there was replaced")
			}
		})
	}
}

// wrap makes the endpoints of partner in the rig's next runs go through w.
func (g *rig) wrap(partner string, w func(endpoint.Endpoint) endpoint.Endpoint) {
	g.runner.wrapEndpoint = func(p string, ep endpoint.Endpoint) endpoint.Endpoint {
		if p == partner {
			return w(ep)
		}
		return ep
	}
}
