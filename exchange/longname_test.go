package exchange

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/sshdtest"
	"github.com/exchanged/exchanged/ledger"
)

// srcRig is a job whose source is a local directory or a real OpenSSH
// sshd, over the directory in, delivering to a local directory out (with
// /inbox and /marked made). at maps a directory of in to the path the
// source endpoint uses for it.
type srcRig struct {
	*rig
	in, out string
	at      func(dir string) string
}

// sources are the source endpoints the tests of this file run against.
var sources = []string{"local", "openssh"}

func newSrcRig(t *testing.T, kind string, src config.Source, dests ...*config.Destination) *srcRig {
	t.Helper()
	in, out := t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, out, "inbox", "marked")
	var p *config.Partner
	at := func(dir string) string { return dir }
	switch kind {
	case "local":
		p = localPartner("creditor", in)
	case "openssh":
		s := sshdtest.Start(t) // paths on a real sshd are absolute OS paths
		p = sftpPartner("creditor", opensshConfig(t, s))
		at = func(dir string) string { return filepath.Join(in, dir) }
	default:
		t.Fatalf("no source kind %q", kind)
	}
	src.Partner, src.Dir = "creditor", at("/outbox")
	if mv := src.MoveDir(); mv != "" {
		src.After = "move:" + at(mv)
	}
	if len(dests) == 0 {
		dests = []*config.Destination{{Partner: "cases", Dir: "/inbox"}}
	}
	g := newRig(t, map[string]*config.Partner{
		"creditor": p,
		"cases":    localPartner("internal", out),
	}, map[string]*config.Job{"j": {Source: src, Destinations: dests}})
	return &srcRig{rig: g, in: in, out: out, at: at}
}

// longName returns a name of n bytes ending in .csv.
func longName(n int) string { return strings.Repeat("c", n-len(".csv")) + ".csv" }

// TestLongNames, from a local source and a real sshd: a 250-byte name
// stages (its staged copy's name does not grow with it) and is delivered,
// with a done marker that brings it to exactly 255 bytes; a 255-byte name
// that a destination's done marker would take past 255 bytes is refused
// at seen with an error event naming the destination, left at the source
// untouched and unrecorded, and neither it nor anything else wedges the
// job: the other files of the run, and of the next, move.
func TestLongNames(t *testing.T) {
	for _, kind := range sources {
		t.Run(kind, func(t *testing.T) {
			g := newSrcRig(t, kind, config.Source{Match: "*.csv"},
				&config.Destination{Partner: "cases", Dir: "/inbox"},
				&config.Destination{Partner: "cases", Dir: "/marked", DoneMarker: ".done"})
			long, tooLong := longName(250), longName(255)
			for _, name := range []string{long, tooLong, "a.csv"} {
				os.WriteFile(filepath.Join(g.in, "outbox", name), claims, 0o644)
			}
			res, err := g.run("j")
			if !errors.Is(err, ErrFilesFailed) || res.Refused != 1 {
				t.Fatalf("run = %+v, %v; want one file refused, and the run saying so", res, err)
			}
			if !strings.Contains(err.Error(), "1 refused") {
				t.Errorf("run error %q does not say a file was refused", err)
			}
			assertRefused(t, g, tooLong, 1)

			// The other files moved: a.csv delivered, the 250-byte one
			// staged from a name that does not grow with it, and its
			// source cleaned.
			for _, dir := range []string{"inbox", "marked"} {
				if b, _ := os.ReadFile(filepath.Join(g.out, dir, "a.csv")); !bytes.Equal(b, claims) {
					t.Errorf("%s/a.csv = %q", dir, b)
				}
			}
			if _, err := os.Stat(filepath.Join(g.in, "outbox", long)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("250-byte name not cleaned from the source: %v", err)
			}
			f := fileNamed(t, g.rig, long)
			if f.State == ledger.StateStaging || f.SHA256 != sum(claims) {
				t.Fatalf("250-byte name: %+v; want staged with its sha256", f)
			}

			// The next run: refused again, the same way; a new file moves.
			os.WriteFile(filepath.Join(g.in, "outbox", "b.csv"), claims, 0o644)
			res, err = g.run("j")
			if !errors.Is(err, ErrFilesFailed) || res.Refused != 1 {
				t.Fatalf("second run = %+v, %v; want the file refused again", res, err)
			}
			assertRefused(t, g, tooLong, 2)
			if b, _ := os.ReadFile(filepath.Join(g.out, "inbox", "b.csv")); !bytes.Equal(b, claims) {
				t.Errorf("the second run did not deliver b.csv: %q", b)
			}

			// Delivered under its 250-byte final name: the temporary
			// names do not grow with it.
			f = fileNamed(t, g.rig, long)
			if f.State != ledger.StateDone {
				t.Fatalf("250-byte name: %+v; want done", f)
			}
			for _, dir := range []string{"inbox", "marked"} {
				if b, _ := os.ReadFile(filepath.Join(g.out, dir, long)); !bytes.Equal(b, claims) {
					t.Errorf("%s: 250-byte name delivered as %q", dir, b)
				}
			}
			if _, err := os.Stat(filepath.Join(g.out, "marked", long+".done")); err != nil {
				t.Errorf("no 255-byte done marker: %v", err)
			}
			assertNoTempFiles(t, g.out)
			g.stagingEmpty()
		})
	}
}

// assertRefused checks that name was refused at seen (the runs' n-th such
// event): an error event naming the file, its length and the destination,
// the file untouched at the source and absent from the ledger.
func assertRefused(t *testing.T, g *srcRig, name string, n int) {
	t.Helper()
	ev := g.logs.FilterMessage("file refused").All()
	if len(ev) != n {
		t.Fatalf("%d 'file refused' events, want %d", len(ev), n)
	}
	m := ev[n-1].ContextMap()
	e, _ := m["error"].(string)
	if m["file"] != name || m["name_bytes"] != int64(len(name)) || m["step"] != "seen" || m["outcome"] != "refused" ||
		!strings.Contains(e, "destination 1 (cases:/marked)") || !strings.Contains(e, `".done"`) || !strings.Contains(e, "260 bytes") {
		t.Errorf("refusal event = %v; want the file, its length, the destination and the done marker", m)
	}
	if b, err := os.ReadFile(filepath.Join(g.in, "outbox", name)); err != nil || !bytes.Equal(b, claims) {
		t.Errorf("refused file not left at the source as it was: %v", err)
	}
	all, _ := g.ledger.Pending("j")
	for _, f := range all {
		if f.Name == name {
			t.Errorf("refused file recorded: %+v", f)
		}
	}
}

// fileNamed returns the one file of job j named name, in any state.
func fileNamed(t *testing.T, g *rig, name string) *ledger.File {
	t.Helper()
	var found *ledger.File
	for id := int64(1); id < 100; id++ {
		f, err := g.ledger.File(id)
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			if found != nil {
				t.Fatalf("%s recorded twice: %d and %d", name, found.ID, f.ID)
			}
			found = f
		}
	}
	if found == nil {
		t.Fatalf("%s not in the ledger", name)
	}
	return found
}

// TestDeliverable: the names exchanged would write at each destination,
// done marker, checksum sidecar and reject report included, must fit in
// 255 bytes.
func TestDeliverable(t *testing.T) {
	plain := &config.Destination{Partner: "p", Dir: "/in"}
	marked := &config.Destination{Partner: "p", Dir: "/in", DoneMarker: ".ready"}
	summed := &config.Destination{Partner: "p", Dir: "/in", Checksum: true, DoneMarker: ".ok"}
	rejects := &config.Destination{Partner: "c", Dir: "/rejects", DoneMarker: ".done"}
	tr := &config.Transform{Layout: "claim", Profile: "internal"}
	for _, c := range []struct {
		job  *config.Job
		name string
		want string // "" if deliverable, else in the error
	}{
		{&config.Job{Destinations: []*config.Destination{plain}}, longName(255), ""},
		{&config.Job{Destinations: []*config.Destination{marked}}, longName(249), ""},
		{&config.Job{Destinations: []*config.Destination{marked}}, longName(250), `destination 0 (p:/in) would get the name of 250 bytes with its done marker ".ready": 256 bytes`},
		{&config.Job{Destinations: []*config.Destination{plain, summed}}, longName(248), ""},
		{&config.Job{Destinations: []*config.Destination{plain, summed}}, longName(249), `destination 1 (p:/in) would get the name of 249 bytes with its checksum sidecar ".sha256": 256 bytes`},
		// The reject report's name is longer than the file's (".rejects.csv"
		// for ".csv"), and counts only where a transform can make one.
		{&config.Job{Transform: tr, Rejects: rejects, Destinations: []*config.Destination{plain}}, longName(242), ""},
		{&config.Job{Transform: tr, Rejects: rejects, Destinations: []*config.Destination{plain}}, longName(243), `the reject report destination (c:/rejects) would get its reject report's name of 251 bytes with its done marker ".done": 256 bytes, more than 255`},
		{&config.Job{Rejects: rejects, Destinations: []*config.Destination{plain}}, longName(255), ""},
	} {
		err := deliverable(c.job, c.name)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%d bytes: %v; want deliverable", len(c.name), err)
		case c.want != "" && (!errors.Is(err, ErrNameTooLong) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%d bytes: %v; want ErrNameTooLong with %q", len(c.name), err, c.want)
		}
	}
}

// TestMovedName: the name a source file is moved under beside a namesake
// stays within 255 bytes, cut at a character boundary.
func TestMovedName(t *testing.T) {
	if got := movedName("a.csv", 42); got != "a.csv.42" {
		t.Errorf("movedName(a.csv) = %q", got)
	}
	long := strings.Repeat("é", 127) + "x" // 255 bytes
	got := movedName(long, 12345)
	if len(got) > endpoint.MaxName || !strings.HasSuffix(got, ".12345") || endpoint.CheckName(got) != nil {
		t.Errorf("movedName of 255 bytes = %d bytes %q", len(got), got)
	}
}

// readFails is a source whose reads fail halfway, once, the way a disk or
// a server fails: not a transient error, so the run does not retry it.
type readFails struct {
	endpoint.Endpoint
	failed *bool
}

func (r readFails) OpenListed(ctx context.Context, p string, listed endpoint.FileInfo) (endpoint.ReadFile, error) {
	rc, err := r.Endpoint.OpenListed(ctx, p, listed)
	if err != nil || *r.failed {
		return rc, err
	}
	*r.failed = true
	return &failingReader{ReadFile: rc, left: listed.Size / 2}, nil
}

type failingReader struct {
	endpoint.ReadFile
	left int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errors.New("read error (test)")
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.ReadFile.Read(p)
	f.left -= int64(n)
	return n, err
}

// TestFailedStagingIsRetried: a staging that fails, on a read error from
// the source (local and sshd) or on a staging disk turned read-only,
// leaves no row that fails later runs: the file is left at the source,
// unrecorded, the other files move, and the next run stages and delivers
// it.
func TestFailedStagingIsRetried(t *testing.T) {
	for _, kind := range sources {
		t.Run("read error/"+kind, func(t *testing.T) {
			g := newSrcRig(t, kind, config.Source{})
			failed := false
			g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
				if partner != "creditor" {
					return ep
				}
				return readFails{Endpoint: ep, failed: &failed}
			}
			big := bytes.Repeat(claims, 1000)
			os.WriteFile(filepath.Join(g.in, "outbox", "a.csv"), big, 0o644)
			res, err := g.run("j")
			if !failed || !errors.Is(err, ErrFilesFailed) || res.Failed != 1 {
				t.Fatalf("run = %+v, %v; want the file failed", res, err)
			}
			ev := g.logs.FilterMessage("file failed").All()
			if len(ev) != 1 || ev[0].ContextMap()["step"] != "stage" || !strings.Contains(ev[0].ContextMap()["error"].(string), "read error") {
				t.Fatalf("failure events = %v", ev)
			}
			assertUnstaged(t, g, "a.csv", big)
			os.WriteFile(filepath.Join(g.in, "outbox", "b.csv"), claims, 0o644)
			if res, err := g.run("j"); err != nil || res.Delivered != 2 {
				t.Fatalf("second run = %+v, %v; want both files delivered", res, err)
			}
			if b, _ := os.ReadFile(filepath.Join(g.out, "inbox", "a.csv")); !bytes.Equal(b, big) {
				t.Fatalf("delivered %d of %d bytes", len(b), len(big))
			}
			g.stagingEmpty()
		})
	}
	t.Run("read-only staging", func(t *testing.T) {
		dir := mountTmpfs(t, "size=1m")
		g := newSrcRig(t, "local", config.Source{})
		g.runner.staging.dir = dir
		os.WriteFile(filepath.Join(g.in, "outbox", "a.csv"), claims, 0o644)
		if err := exec("mount", "-o", "remount,ro", dir); err != nil {
			t.Fatal(err)
		}
		res, err := g.run("j")
		if !errors.Is(err, ErrFilesFailed) || res.Failed != 1 {
			t.Fatalf("run = %+v, %v; want the file failed", res, err)
		}
		if ev := g.logs.FilterMessage("file failed").All(); len(ev) != 1 || !strings.Contains(ev[0].ContextMap()["error"].(string), "read-only") {
			t.Fatalf("failure events = %v; want a clear read-only error", ev)
		}
		assertUnstaged(t, g, "a.csv", claims)
		if err := exec("mount", "-o", "remount,rw", dir); err != nil {
			t.Fatal(err)
		}
		if res, err := g.run("j"); err != nil || res.Delivered != 1 {
			t.Fatalf("run after the disk is back = %+v, %v; want the file delivered", res, err)
		}
		g.stagingEmpty()
	})
}

// assertUnstaged checks that a file whose staging failed is as it was at
// the source, not in the ledger, and not in staging.
func assertUnstaged(t *testing.T, g *srcRig, name string, body []byte) {
	t.Helper()
	if b, _ := os.ReadFile(filepath.Join(g.in, "outbox", name)); !bytes.Equal(b, body) {
		t.Fatal("source file lost or changed")
	}
	if pend, _ := g.ledger.Pending("j"); len(pend) != 0 {
		t.Fatalf("ledger holds %+v for a file never staged", pend)
	}
	g.stagingEmpty()
}

// TestWedgedStagingRowRecovers: a row that an earlier version left in
// "staging" for a name it could not stage (255 bytes, its staged name
// longer still), with a partial copy under the current name, is forgotten
// at the next run and the file staged again under a new id.
func TestWedgedStagingRowRecovers(t *testing.T) {
	g, in, _ := localRig(t, config.Source{})
	name := longName(255)
	p := filepath.Join(in, "outbox", name)
	os.WriteFile(p, claims, 0o644)
	fi, _ := os.Stat(p)
	f := &ledger.File{Job: "j", Partner: "creditor", Dir: "/outbox", Name: name, Size: fi.Size(), ModTime: fi.ModTime()}
	id, err := g.ledger.AddFile(f)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(g.runner.Staging().Dir(), strconv.FormatInt(id, 10)+".src"), claims[:10], 0o600)
	g.run("j")
	if _, err := g.ledger.File(id); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the old staging row was not forgotten: %v", err)
	}
	nf := fileNamed(t, g, name)
	if nf.ID == id || nf.State == ledger.StateStaging || nf.SHA256 != sum(claims) {
		t.Fatalf("file = %+v; want staged again under a new id", nf)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("source not cleaned once staged")
	}
	if _, err := os.Stat(filepath.Join(g.runner.Staging().Dir(), strconv.FormatInt(id, 10)+".src")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the partial copy of the old row was left in staging")
	}
}
