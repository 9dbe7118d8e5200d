package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exchanged/exchanged/ledger"
)

// TestDaemonFileOverdue runs the real binary with a job whose file is due
// by the current minute, in the config's timezone, and none came: one
// "file overdue" error event and exchanged_file_overdue 1; a run that sees
// nothing and a restart do not announce it again; a run that sees a file
// clears it, also across a restart.
func TestDaemonFileOverdue(t *testing.T) {
	const series = `exchanged_file_overdue{job="claims-in"}`
	ams := amsterdam(t) // the config's default timezone
	now := time.Now().In(ams)
	if now.Format("15:04") == "00:00" { // refused: no time for a file; wait for 00:01
		time.Sleep(now.Truncate(time.Minute).Add(time.Minute).Sub(now))
	}
	now = time.Now().In(ams)
	by := now.Format("15:04")
	work := t.TempDir()
	// Runs at 00:00 on a day of the month that is neither today nor tomorrow (and when
	// triggered): validation wants a job able to see a file before it is due on some due day,
	// and no scheduled run may race p.trigger, not even when the test runs across midnight.
	dom := (now.Day()+13)%28 + 1
	job := strings.Replace(claimsInJob, `schedule: "@yearly"`, fmt.Sprintf(`schedule: "0 0 %d * *"`, dom), 1)
	expect := "    expect: {by: \"" + by + "\", days: \"*\"}\n"
	cfg, addr := localConfig(t, work, strings.Replace(job, "  claims-in:\n", "  claims-in:\n"+expect, 1))
	// The daemon checks before it serves: the first scrape is right.
	overdueNow := func(p *proc, want float64) {
		t.Helper()
		if v, ok := p.metrics()[series]; !ok || v != want {
			t.Fatalf("%s = %v (present %v), want %v:\n%s", series, v, ok, want, p.log())
		}
		// The status page says the same.
		tag := `<span class="tag no">no</span>`
		if want == 1 {
			tag = `<span class="tag yes">overdue</span>`
		}
		if code, page := p.get("/status"); code != 200 || !strings.Contains(page, tag) {
			t.Fatalf("status page (%d) lacks %s:\n%s", code, tag, page)
		}
	}
	stop := func(p *proc) {
		t.Helper()
		p.signal(syscall.SIGTERM)
		if code := p.wait(); code != 0 {
			t.Fatalf("exit %d:\n%s", code, p.log())
		}
	}

	// Started after the due time, no file ever: announced at once.
	p := startDaemon(t, cfg, addr)
	e := p.events("file overdue")
	if len(e) != 1 {
		t.Fatalf("%d file overdue events at start, want 1:\n%s", len(e), p.log())
	}
	if e[0]["level"] != "error" || e[0]["partner"] != "acme" || e[0]["dir"] != "/outbox" ||
		!strings.Contains(e[0]["due"].(string), "T"+by+":00") {
		t.Errorf("file overdue event: %v", e[0])
	}
	overdueNow(p, 1)
	if r := p.trigger("claims-in", 1); r["outcome"] != "ok" { // a run that finds nothing
		t.Fatalf("run: %v", r)
	}
	overdueNow(p, 1)
	stop(p)
	if n := len(p.events("file overdue")); n != 1 {
		t.Fatalf("%d file overdue events, want 1:\n%s", n, p.log())
	}

	// A restart: still overdue, not announced again.
	p = startDaemon(t, cfg, addr)
	overdueNow(p, 1)
	writeFile(t, filepath.Join(work, "acme/outbox/claims_1.csv"), []byte("ref;amount\n"))
	writeFile(t, filepath.Join(work, "acme/outbox/claims_1.csv.done"), nil)
	if r := p.trigger("claims-in", 1); r["outcome"] != "ok" || r["delivered"] != 1.0 {
		t.Fatalf("run with a file: %v", r)
	}
	overdueNow(p, 0)
	if _, err := os.Stat(filepath.Join(work, "cases/inbox/claims_1.csv")); err != nil {
		t.Fatal(err)
	}
	stop(p)
	if n := len(p.events("file overdue")); n != 0 {
		t.Fatalf("announced again after a restart: %d events:\n%s", n, p.log())
	}

	// The file came today: after a restart the job is not overdue.
	p = startDaemon(t, cfg, addr)
	overdueNow(p, 0)
	stop(p)
	if n := len(p.events("file overdue")); n != 0 {
		t.Fatalf("announced after the file came: %d events:\n%s", n, p.log())
	}

	// The expect removed: no gauge, and the ledger forgets the due time it announced.
	announced := func() time.Time {
		t.Helper()
		l, err := ledger.Open(filepath.Join(work, "state", "ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		due, err := l.OverdueAnnounced("claims-in")
		if err != nil {
			t.Fatal(err)
		}
		return due
	}
	if announced().IsZero() {
		t.Fatal("the ledger has no due time announced of claims-in")
	}
	cfg, addr = localConfig(t, work, job)
	p = startDaemon(t, cfg, addr)
	if v, ok := p.metrics()[series]; ok {
		t.Errorf("%s = %v without an expect", series, v)
	}
	stop(p)
	if due := announced(); !due.IsZero() {
		t.Errorf("the ledger keeps the due time announced %v after the expect was removed", due)
	}
}
