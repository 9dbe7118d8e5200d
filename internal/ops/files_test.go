package ops

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/ledger"
	"github.com/exchanged/exchanged/schedule"
)

// fakeFiles records the calls the /files routes make.
type fakeFiles struct {
	calls []string
	err   error
}

func (f *fakeFiles) List(job, state string) (any, error) {
	f.calls = append(f.calls, "list "+job+" "+state)
	return []string{"row"}, f.err
}

func (f *fakeFiles) Retry(id int64, req FileRequest) (any, error) {
	f.calls = append(f.calls, fmt.Sprintf("retry %d %s %q %s", id, req.By, req.Reason, req.Remote))
	return map[string]int64{"id": id}, f.err
}

func (f *fakeFiles) Abandon(id int64, req FileRequest) (any, error) {
	f.calls = append(f.calls, fmt.Sprintf("abandon %d %s %q %s", id, req.By, req.Reason, req.Remote))
	return map[string]int64{"id": id}, f.err
}

// The mutating /files routes answer a loopback caller with a JSON body
// only; errors map to their statuses.
func TestFileRoutes(t *testing.T) {
	for _, c := range []struct {
		method, path, remote, ctype, body string
		err                               error
		code                              int
		call                              string
	}{
		{"GET", "/files?job=j&state=failed", "10.0.0.9:1", "", "", nil, 200, "list j failed"},
		{"POST", "/files/7/retry", "127.0.0.1:5", "application/json", `{"by":"jan","reason":""}`, nil, 200, `retry 7 jan "" 127.0.0.1:5`},
		{"POST", "/files/7/abandon", "[::1]:5", "application/json; charset=utf-8", `{"by":"jan","reason":"dup"}`, nil, 200, `abandon 7 jan "dup" [::1]:5`},
		{"POST", "/files/7/abandon", "10.0.0.9:1", "application/json", `{"by":"jan","reason":"dup"}`, nil, 403, ""},
		{"POST", "/files/7/abandon", "127.0.0.1:5", "text/plain", `{"by":"jan","reason":"dup"}`, nil, 415, ""},
		{"POST", "/files/7/abandon", "127.0.0.1:5", "application/x-www-form-urlencoded", `by=jan`, nil, 415, ""},
		{"POST", "/files/x/retry", "127.0.0.1:5", "application/json", `{}`, nil, 400, ""},
		{"POST", "/files/7/retry", "127.0.0.1:5", "application/json", `{"who":"x"}`, nil, 400, ""},
		{"GET", "/files/7/retry", "127.0.0.1:5", "", "", nil, 405, ""},
		{"POST", "/files/7/retry", "127.0.0.1:5", "application/json", `{}`, ledger.ErrNotFound, 404, `retry 7  "" 127.0.0.1:5`},
		{"POST", "/files/7/retry", "127.0.0.1:5", "application/json", `{}`, fmt.Errorf("busy: %w", schedule.ErrRunning), 409, `retry 7  "" 127.0.0.1:5`},
		{"POST", "/files/7/abandon", "127.0.0.1:5", "application/json", `{}`, fmt.Errorf("done: %w", ledger.ErrState), 409, `abandon 7  "" 127.0.0.1:5`},
		{"POST", "/files/7/abandon", "127.0.0.1:5", "application/json", `{}`, fmt.Errorf("no reason: %w", ErrInvalid), 400, `abandon 7  "" 127.0.0.1:5`},
	} {
		f := &fakeFiles{err: c.err}
		mux := (&Handler{Files: f}).ServeMux()
		r := httptest.NewRequest(c.method, "http://127.0.0.1:9464"+c.path, strings.NewReader(c.body))
		r.RemoteAddr = c.remote
		if c.ctype != "" {
			r.Header.Set("Content-Type", c.ctype)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != c.code {
			t.Errorf("%s %s from %s (%s) = %d %s, want %d", c.method, c.path, c.remote, c.ctype, w.Code, w.Body, c.code)
		}
		if got := strings.Join(f.calls, ";"); got != c.call {
			t.Errorf("%s %s from %s: calls %q, want %q", c.method, c.path, c.remote, got, c.call)
		}
	}
	// No FileOps: no routes.
	w := httptest.NewRecorder()
	(&Handler{}).ServeMux().ServeHTTP(w, httptest.NewRequest("GET", "/files", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("GET /files without FileOps = %d", w.Code)
	}
}
