package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/ledger"
)

// The status page of a job with more pending files than it lists reads
// the first of them only from the ledger and counts the rest right.
func TestDaemonStatusPageCountsPending(t *testing.T) {
	work := t.TempDir()
	cfg, addr := localConfig(t, work, claimsInJob)
	if err := os.MkdirAll(filepath.Join(work, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(work, "state", "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 130 {
		if _, err := l.AddFile(&ledger.File{Job: "claims-in", Partner: "acme", Dir: "/outbox",
			Name: fmt.Sprintf("claims_%03d.csv", i), Size: 1, ModTime: time.Unix(int64(1+i), 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, cfg, addr)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	if n := strings.Count(page, `<tr id="file-`); resp.StatusCode != 200 || n != 100 ||
		!strings.Contains(page, "and 30 more") || !strings.Contains(page, `<a href="#pending-claims-in">130</a>`) {
		t.Errorf("status %d, %d file(s) listed; want 100 listed, 130 counted, \"and 30 more\"", resp.StatusCode, n)
	}
}
