package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/chromiumtest"
)

// sampleStatus is a daemon's status with a running job, a failed one with a stuck file
// whose name tries to inject markup, and an overdue one that never ran.
func sampleStatus() Status {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	return Status{Version: "v1.2.3", Now: now, Location: ams, Jobs: []JobStatus{
		{Name: "claims-in", Schedule: "*/15 * * * *", Next: now.Add(15 * time.Minute),
			LastRun: RunStatus{Started: now.Add(-time.Hour), Finished: now.Add(-time.Hour + 3*time.Second),
				Outcome: "failed", Files: 1, Error: "exchange: 1 file(s) of job claims-in"},
			Pending: []FileStatus{{ID: 7, Partner: "acme", Name: `claims_<script>alert(1)</script>.csv`,
				State: "transformed", Attempts: 3, Seen: now.Add(-26 * time.Hour),
				Error: `destination 0 (cases): sftp: permission denied <b>x</b>`}}},
		{Name: "letters-out", Schedule: "@hourly", Running: true, Next: now.Add(time.Hour), Due: now.Add(2 * time.Hour),
			LastRun: RunStatus{Started: now.Add(-time.Minute)}},
		{Name: "payments-in", Schedule: "0 9 * * 1-5", Overdue: true, Due: now.Add(-30 * time.Minute)},
	}}
}

func statusServer(t *testing.T, st func(context.Context) (Status, error)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer((&Handler{Status: st}).ServeMux())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestStatusPage: the page's headers lock it down, and it shows every job's state with
// its files, in the daemon's zone, escaping what a creditor named a file.
func TestStatusPage(t *testing.T) {
	srv := statusServer(t, func(context.Context) (Status, error) { return sampleStatus(), nil })
	for _, path := range []string{"/", "/status"} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
		}
		for k, want := range map[string]string{
			"Content-Security-Policy": statusCSP, "X-Content-Type-Options": "nosniff",
			"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
			}
		}
		for _, want := range []string{
			`<code id="version">v1.2.3</code>`, `2026-03-02 11:00:00 CET`, // the page's time, in the daemon's zone
			`<tr id="job-claims-in">`, `<code>*/15 * * * *</code>`, `<span class="tag failed">failed</span>`,
			`took 3s`, `in 15m`, `<a href="#pending-claims-in">1</a>`,
			`<span class="tag running">in progress</span>`,
			`<span class="tag yes">overdue</span><span class="sub">due 2026-03-02 10:30:00 CET</span>`,
			`<span class="tag no">no</span><span class="sub">due 2026-03-02 13:00:00 CET</span>`, `nothing expected`,
			`never ran`, `<tr id="file-7">`, `<code>claims_&lt;script&gt;alert(1)&lt;/script&gt;.csv</code>`,
			`<td class="num">3</td>`, `1d 2h`, `permission denied &lt;b&gt;x&lt;/b&gt;`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %q", path, want)
			}
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "<b>") {
			t.Errorf("GET %s: markup of a file name or error got through unescaped", path)
		}
	}
	if resp, _ := get(t, srv.URL+"/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
	}
}

// TestStatusPageLimits: a job with many pending files lists maxListed and counts the rest;
// no status source is a 503, a failing one a 500 naming the error.
func TestStatusPageLimits(t *testing.T) {
	st := sampleStatus()
	for i := range maxListed + 5 {
		st.Jobs[0].Pending = append(st.Jobs[0].Pending, FileStatus{ID: int64(100 + i), Partner: "acme",
			Name: fmt.Sprintf("f%d.csv", i), State: "staged", Seen: st.Now})
	}
	srv := statusServer(t, func(context.Context) (Status, error) { return st, nil })
	_, body := get(t, srv.URL+"/")
	if n := strings.Count(body, `<tr id="file-`); n != maxListed {
		t.Errorf("%d files listed, want %d", n, maxListed)
	}
	if !strings.Contains(body, "and 6 more") || !strings.Contains(body, `<a href="#pending-claims-in">106</a>`) {
		t.Errorf("the rest is not counted")
	}
	// The daemon reads the first PendingListed files only and gives their count.
	st.Jobs[0].Pending, st.Jobs[0].PendingTotal = st.Jobs[0].Pending[:PendingListed], 250
	srv = statusServer(t, func(context.Context) (Status, error) { return st, nil })
	_, body = get(t, srv.URL+"/")
	if n := strings.Count(body, `<tr id="file-`); n != PendingListed || !strings.Contains(body, "and 150 more") ||
		!strings.Contains(body, `<a href="#pending-claims-in">250</a>`) {
		t.Errorf("with PendingTotal 250: %d listed, the rest not counted as 150", n)
	}

	if resp, _ := get(t, statusServer(t, nil).URL+"/status"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("no Status: %d, want 503", resp.StatusCode)
	}
	failing := statusServer(t, func(context.Context) (Status, error) {
		return Status{}, errors.New("ledger: runs of x: disk I/O error")
	})
	if resp, body := get(t, failing.URL+"/status"); resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "disk I/O error") {
		t.Errorf("failing Status: %d %q", resp.StatusCode, body)
	}
}

// TestStatusPageInChromium renders the page in headless Chromium: it loads with no console
// error and no policy violation, its style applies, and a file name that tries to inject a
// script stays text. The same page served under a policy that does not allow its style
// sheet is caught, so the check can fail.
func TestStatusPageInChromium(t *testing.T) {
	srv := statusServer(t, func(context.Context) (Status, error) { return sampleStatus(), nil })
	p := chromiumtest.Load(t, srv.URL+"/")
	if p.Status != http.StatusOK || len(p.Errors) != 0 {
		t.Fatalf("status %d, errors %q", p.Status, p.Errors)
	}
	if !strings.Contains(p.DOM, `claims_&lt;script&gt;alert(1)&lt;/script&gt;.csv`) || !strings.Contains(p.DOM, `<tr id="job-payments-in">`) {
		t.Fatalf("DOM lacks the jobs or the escaped file name:\n%s", p.DOM)
	}

	h := (&Handler{Status: func(context.Context) (Status, error) { return sampleStatus(), nil }}).ServeMux()
	wrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&policy{ResponseWriter: w, csp: "default-src 'none'; style-src 'sha256-AAAA'"}, r)
	}))
	defer wrong.Close()
	p = chromiumtest.Load(t, wrong.URL+"/")
	if len(p.Errors) == 0 || !strings.Contains(strings.Join(p.Errors, "\n"), "Content Security Policy") {
		t.Fatalf("a style sheet the policy forbids went unreported: %q", p.Errors)
	}
}

// policy replaces the Content-Security-Policy a handler sets.
type policy struct {
	http.ResponseWriter
	csp string
}

func (p *policy) WriteHeader(code int) {
	p.Header().Set("Content-Security-Policy", p.csp)
	p.ResponseWriter.WriteHeader(code)
}

// TestWords: durations read as a person would say them.
func TestWords(t *testing.T) {
	for d, want := range map[time.Duration]string{-time.Second: "0s", 45 * time.Second: "45s",
		12*time.Minute + 5*time.Second: "12m", 3*time.Hour + 5*time.Minute: "3h 5m", 50 * time.Hour: "2d 2h"} {
		if got := words(d); got != want {
			t.Errorf("words(%v) = %q, want %q", d, got, want)
		}
	}
}
