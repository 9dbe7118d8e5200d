package chromiumtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLoadReportsErrors proves Load can fail a test: a page whose policy forbids its
// inline script, one that logs a console error, and one whose script throws each yield an
// error naming it; a clean page yields none and its DOM as rendered.
func TestLoadReportsErrors(t *testing.T) {
	pages := map[string]struct {
		csp, body string
	}{
		"/clean":     {"default-src 'none'; style-src 'unsafe-inline'", `<style>p{color:#333}</style><p id="x">clean &amp; plain</p>`},
		"/blocked":   {"default-src 'none'", `<p>x</p><script>document.title="ran"</script>`},
		"/console":   {"", `<script>console.error("broken thing")</script>`},
		"/exception": {"", `<script>null.boom()</script>`},
		"/style":     {"default-src 'none'; style-src 'sha256-AAAA'", `<p style="color:red">x</p>`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if pg.csp != "" {
			w.Header().Set("Content-Security-Policy", pg.csp)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html><head><title>t</title></head><body>` + pg.body + `</body></html>`))
	}))
	defer srv.Close()

	for _, c := range []struct {
		path, want string // want: "" for no error, else a word of the one error
	}{
		{"/clean", ""},
		{"/blocked", "Content Security Policy"},
		{"/console", "broken thing"},
		{"/exception", "null"},
		{"/style", "Content Security Policy"},
	} {
		p := Load(t, srv.URL+c.path)
		if p.Status != http.StatusOK {
			t.Errorf("%s: status %d", c.path, p.Status)
		}
		switch {
		case c.want == "" && len(p.Errors) != 0:
			t.Errorf("%s: errors %q, want none", c.path, p.Errors)
		case c.want != "" && (len(p.Errors) == 0 || !strings.Contains(strings.Join(p.Errors, "\n"), c.want)):
			t.Errorf("%s: errors %q, want one with %q", c.path, p.Errors, c.want)
		}
		if c.path == "/clean" && !strings.Contains(p.DOM, `<p id="x">clean &amp; plain</p>`) {
			t.Errorf("/clean: DOM %q", p.DOM)
		}
		if c.path == "/blocked" && strings.Contains(p.DOM, "<title>ran</title>") {
			t.Errorf("/blocked: the inline script ran despite the policy")
		}
	}
}

// TestLoadStatus: a page that is not there is loaded with its status, and the browser's
// report of the failed load counts as an error.
func TestLoadStatus(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	p := Load(t, srv.URL+"/nope")
	if p.Status != http.StatusNotFound || len(p.Errors) == 0 {
		t.Fatalf("status %d, errors %q; want 404 and an error", p.Status, p.Errors)
	}
}

// missingTB notes whether a test was skipped or failed, instead of ending it.
type missingTB struct {
	testing.TB
	how string
}

func (m *missingTB) Helper()               {}
func (m *missingTB) Skipf(string, ...any)  { m.how = "skipped" }
func (m *missingTB) Fatalf(string, ...any) { m.how = "failed" }

// TestMissingChromium: without chromium a test is skipped, and failed under CI=true.
func TestMissingChromium(t *testing.T) {
	old := Path
	Path = "/nonexistent/chromium"
	defer func() { Path = old }()
	for ci, want := range map[string]string{"": "skipped", "true": "failed"} {
		t.Setenv("CI", ci)
		m := &missingTB{TB: t}
		if p := Load(m, "http://127.0.0.1:1/"); m.how != want || p.DOM != "" {
			t.Errorf("CI=%q: %s, want %s", ci, m.how, want)
		}
	}
}
