package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/chromiumtest"
)

// TestDaemonStatusPage runs the real binary with a job whose destination directory does not
// exist, makes its file stuck with a failed run, and loads the status page in headless
// Chromium: the page loads without a console error or policy violation, shows both jobs
// with their schedules, the failed run, and the stuck file with its partner, state,
// attempts and last error, and nothing of the file's contents.
func TestDaemonStatusPage(t *testing.T) {
	work := t.TempDir()
	cfg, addr := localConfig(t, work, `  claims-in:
    schedule: "@yearly"
    source: {partner: acme, dir: /outbox, match: "claims_*.csv", done_marker: ".done"}
    destinations:
      - {partner: cases, dir: /no-such-dir}
  letters-out:
    schedule: "0 7 * * 1-5"
    source: {partner: cases, dir: /outbox, match: "*.csv"}
    destinations:
      - {partner: acme, dir: /inbox}
`)
	b, _ := os.ReadFile(cfg)
	writeFile(t, cfg, append(b, []byte("runs: {retry: {attempts: 1}}\n")...))
	const person, iban = "J. de Vries", "NL91ABNA0417164300"
	writeFile(t, filepath.Join(work, "acme/outbox/claims_1.csv"), []byte("K-1;"+person+";"+iban+";1.234,56\r\n"))
	writeFile(t, filepath.Join(work, "acme/outbox/claims_1.csv.done"), nil)

	p := startDaemon(t, cfg, addr)
	page := chromiumtest.Load(t, "http://"+addr+"/")
	if page.Status != http.StatusOK || len(page.Errors) != 0 {
		t.Fatalf("status page before any run: status %d, errors %q", page.Status, page.Errors)
	}
	if strings.Contains(page.DOM, `id="file-`) || !strings.Contains(page.DOM, "never ran") {
		t.Fatalf("before any run the page shows a file or a run:\n%s", page.DOM)
	}

	if e := p.trigger("claims-in", 1); e["outcome"] != "failed" {
		t.Fatalf("run with a missing destination dir: %v", e)
	}
	page = chromiumtest.Load(t, "http://"+addr+"/status")
	if page.Status != http.StatusOK || len(page.Errors) != 0 {
		t.Fatalf("status page: status %d, errors %q", page.Status, page.Errors)
	}
	dom := page.DOM
	var cells []string // the stuck file's row: ID, partner, file, state, attempts, age, last error
	for _, m := range regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(
		regexp.MustCompile(`(?s)<tr id="file-\d+">.*?</tr>`).FindString(dom), -1) {
		cells = append(cells, m[1])
	}
	if len(cells) != 7 {
		t.Fatalf("no row of 7 cells for the stuck file: %q\n%s", cells, dom)
	}
	for _, want := range []string{`<code>claims-in</code>`, `<code>@yearly</code>`,
		`<code>letters-out</code>`, `<code>0 7 * * 1-5</code>`, `<span class="tag failed">failed</span>`,
		`<a href="#pending-claims-in">1</a>`, `<code id="version">dev</code>`,
		fmt.Sprintf("%d-01-01 00:00:00 CET", time.Now().Year()+1)} { // @yearly's next run, in the config's zone
		if !strings.Contains(dom, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for i, want := range []string{"", "acme", "<code>claims_1.csv</code>", ">transformed<", "1", "since ",
		`local: create "/no-such-dir/`} {
		if !strings.Contains(cells[i], want) || i == 4 && cells[i] != want {
			t.Errorf("the stuck file's cell %d = %q, want %q", i, cells[i], want)
		}
	}
	for _, pd := range []string{person, "de Vries", iban, "1.234,56"} {
		if strings.Contains(dom, pd) {
			t.Errorf("the page shows personal data %q", pd)
		}
	}

	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for k, want := range map[string]string{"Content-Security-Policy": "default-src 'none'; style-src 'sha256-",
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8"} {
		if got := resp.Header.Get(k); !strings.HasPrefix(got, want) {
			t.Errorf("%s = %q, want %q...", k, got, want)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
}
