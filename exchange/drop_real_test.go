package exchange

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/proftpdtest"
	"github.com/exchanged/exchanged/internal/sshdtest"
	"github.com/exchanged/exchanged/ledger"
)

// opensshDrop returns the endpoint config of a real sshd's chrooted drop
// user, whose drop folder is a root-owned 0733 directory: files may be
// created and then opened, stat'ed, renamed or removed by name, but the
// folder not listed. It skips the test where there is no drop user (not
// root), or fails under CI=true.
func opensshDrop(t *testing.T, s *sshdtest.Server) config.SFTP {
	t.Helper()
	if s.DropUser == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI needs the sshd drop user (run the tests as root)")
		}
		t.Skip("no sshd drop user: the tests do not run as root")
	}
	cfg := opensshConfig(t, s)
	cfg.User = s.DropUser
	return cfg
}

// checkDropped asserts that dir on disk holds exactly want and that the
// file was delivered whole and its disclosure confirmed.
func checkDropped(t *testing.T, g *rig, dir string, want ...string) {
	t.Helper()
	if got := strings.Join(dirNames(t, dir), " "); got != strings.Join(want, " ") {
		t.Fatalf("drop folder = %q, want %q", got, strings.Join(want, " "))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "claims_1.csv")); !bytes.Contains(b, []byte("K-3")) {
		t.Errorf("delivered file = %q, want it whole", b)
	}
	if ds := g.disclosed(); len(ds) != 1 || ds[0].Partner != "gdw" || ds[0].State != ledger.DisclosureConfirmed {
		t.Errorf("disclosures = %+v, want one confirmed to gdw", ds)
	}
	g.stagingEmpty()
}

// OpenSSH's 0733 drop folder, in each mode: the file arrives once under
// its final name, with its done marker; temp mode leaves no temp file.
func TestOpenSSHDropFolder(t *testing.T) {
	s := sshdtest.Start(t)
	cfg := opensshDrop(t, s)
	for _, mode := range []string{config.UploadTemp, config.UploadDirect} {
		t.Run(mode, func(t *testing.T) {
			g, _ := dropRigTo(t, cfg, s.DropDir, config.Destination{Upload: mode, DoneMarker: ".done"})
			if res, err := g.run("claims-in"); err != nil || res.Delivered != 1 {
				t.Fatalf("run = %+v, %v", res, err)
			}
			checkDropped(t, g, s.DropPath, "claims_1.csv", "claims_1.csv.done")
			for _, n := range []string{"claims_1.csv", "claims_1.csv.done"} {
				os.Remove(filepath.Join(s.DropPath, n)) // the partner takes them
			}
		})
	}
}

// ProFTPD's drop folder allows uploads only. upload: temp is refused at
// its size check (stat), permanently, naming the stat; its temp file
// stays (the removal is refused too) as an error event; the disclosure is
// in the ledger, sent. Switched to direct, the file arrives once under
// its final name.
func TestProFTPDDropFolder(t *testing.T) {
	s := proftpdtest.Start(t)
	g, _ := dropRigTo(t, proftpdConfig(t, s), s.DropDir, config.Destination{DoneMarker: ".done"})
	if _, err := g.run("claims-in"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run in temp mode: %v, want a failure", err)
	}
	if msg := g.failure(); !strings.Contains(msg, "partner refused stat (permission denied): use upload: direct") {
		t.Errorf("failure = %q", msg)
	}
	left := dirNames(t, s.DropPath)
	if len(left) != 1 || !strings.HasPrefix(left[0], tempPrefix) {
		t.Fatalf("drop folder = %v, want our temp file", left)
	}
	if ev := g.logs.FilterMessage("temporary file not removed").All(); len(ev) != 1 ||
		ev[0].ContextMap()["file"] != s.DropDir+"/"+left[0] || ev[0].ContextMap()["partner"] != "gdw" {
		t.Errorf("temp file left without an error event: %v", ev)
	}
	if ds := g.disclosed(); len(ds) != 1 || ds[0].State != ledger.DisclosureSent {
		t.Fatalf("disclosures = %+v, want one sent though the delivery failed", ds)
	}

	g.cfg.Jobs["claims-in"].Destinations[0].Upload = config.UploadDirect
	if res, err := g.run("claims-in"); err != nil || res.Delivered != 1 {
		t.Fatalf("run in direct mode = %+v, %v", res, err)
	}
	checkDropped(t, g, s.DropPath, left[0], "claims_1.csv", "claims_1.csv.done")
}

// upload: direct to ProFTPD's drop folder from the start: the file and
// its checksum and marker arrive once; an existing file of the same name
// (AllowOverwrite off) is never replaced.
func TestProFTPDDropFolderDirect(t *testing.T) {
	s := proftpdtest.Start(t)
	g, _ := dropRigTo(t, proftpdConfig(t, s), s.DropDir,
		config.Destination{Upload: config.UploadDirect, DoneMarker: ".done", Checksum: true})
	theirs := filepath.Join(s.DropPath, "claims_1.csv")
	os.WriteFile(theirs, []byte("the partner's earlier file"), 0o644)
	if _, err := g.run("claims-in"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(theirs); string(b) != "the partner's earlier file" {
		t.Fatalf("the partner's file was replaced: %q", b)
	}
	if msg := g.failure(); !strings.Contains(msg, "partner refused create") {
		t.Errorf("failure = %q", msg)
	}
	os.Remove(theirs) // taken
	if res, err := g.run("claims-in"); err != nil || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	checkDropped(t, g, s.DropPath, "claims_1.csv", "claims_1.csv.done", "claims_1.csv.sha256")
}

// ProFTPD answers a target that exists with status 11 or a failure
// ("File already exists"): the destination is taken, in each mode, and
// nothing is replaced.
func TestProFTPDDestinationTaken(t *testing.T) {
	s := proftpdtest.Start(t)
	for _, mode := range []string{config.UploadTemp, config.UploadDirect} {
		t.Run(mode, func(t *testing.T) {
			dir := "/in-" + mode
			s.Mkdir(t, dir)
			g, _ := dropRigTo(t, proftpdConfig(t, s), dir, config.Destination{Upload: mode})
			theirs := s.Path(dir + "/claims_1.csv")
			os.WriteFile(theirs, []byte("the partner's earlier file"), 0o644)
			if _, err := g.run("claims-in"); !errors.Is(err, ErrFilesFailed) {
				t.Fatalf("run: %v", err)
			}
			if msg := g.failure(); !strings.Contains(msg, ErrDestinationTaken.Error()) {
				t.Errorf("failure = %q, want the destination taken", msg)
			}
			if b, _ := os.ReadFile(theirs); string(b) != "the partner's earlier file" {
				t.Fatalf("the partner's file was replaced: %q", b)
			}
			os.Remove(theirs)
			if res, err := g.run("claims-in"); err != nil || res.Delivered != 1 {
				t.Fatalf("next run = %+v, %v", res, err)
			}
			if got := strings.Join(dirNames(t, s.Path(dir)), " "); got != "claims_1.csv" {
				t.Errorf("dir = %q", got)
			}
		})
	}
}

// A 250-byte name goes through temp mode to a real sshd: the temp name
// does not grow with it.
func TestOpenSSHLongName(t *testing.T) {
	s := sshdtest.Start(t)
	name := strings.Repeat("n", 246) + ".csv"
	g, out := pushRig(t, s, nil)
	g.cfg.Jobs["out"].Destinations[0].DoneMarker = ".ok"
	outbox := filepath.Join(g.cfg.Partners["cases"].Local.Root, "outbox")
	os.Rename(filepath.Join(outbox, "a.csv"), filepath.Join(outbox, name))
	if res, err := g.run("out"); err != nil || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if got := strings.Join(dirNames(t, out), " "); got != name+" "+name+".ok" {
		t.Errorf("delivered %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(out, name)); !bytes.Equal(b, claims) {
		t.Error("content differs")
	}
}

// OpenSSH offers hardlink@openssh.com (sftp's TestOpenSSHOffersHardlink):
// the rename is a link then a removal, so an existing target is never replaced; and a crash between
// the link and the removal is completed by the next run, once.
func TestOpenSSHHardlinkRename(t *testing.T) {
	s := sshdtest.Start(t)
	g, out := pushRig(t, s, nil)
	g.cfg.Jobs["out"].Destinations[0].DoneMarker = ".done"
	os.WriteFile(filepath.Join(out, "a.csv"), []byte("the partner's earlier file"), 0o644)
	if _, err := g.run("out"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.csv")); string(b) != "the partner's earlier file" {
		t.Fatalf("replaced: %q", b)
	}
	os.Remove(filepath.Join(out, "a.csv"))

	done := false
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "acme" {
			return linkThenLose{Endpoint: ep, done: &done}
		}
		return ep
	}
	g.runner.Retry.Attempts = 1
	if _, err := g.run("out"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run with a crash after the link: %v", err)
	}
	if got := dirNames(t, out); len(got) != 2 || !strings.HasPrefix(got[0], tempPrefix) || got[1] != "a.csv" {
		t.Fatalf("after the crash: %v, want the temp name and the final name", got)
	}
	if res, err := g.run("out"); err != nil || res.Delivered != 1 {
		t.Fatalf("resumed run = %+v, %v", res, err)
	}
	if got := strings.Join(dirNames(t, out), " "); got != "a.csv a.csv.done" {
		t.Errorf("out = %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.csv")); !bytes.Equal(b, claims) {
		t.Error("content differs")
	}
}
