package ops

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// guardServer is an endpoint with every route, on loopback, whose Trigger
// and FileOps record what they are asked.
func guardServer(t *testing.T) (base string, triggered *[]string, files *fakeFiles) {
	t.Helper()
	triggered = new([]string)
	files = &fakeFiles{}
	h := &Handler{
		Metrics: NewMetrics("dev", nil),
		Ready:   func() error { return nil },
		Trigger: func(job string) error { *triggered = append(*triggered, job); return nil },
		Status: func(context.Context) (Status, error) {
			return Status{Version: "v-guard", Jobs: []JobStatus{{Name: "claims-in"}}}, nil
		},
		Files: files,
		Hosts: []string{"exchanged01.internal"},
	}
	s, err := Listen("127.0.0.1:0", h, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return "http://" + s.Addr(), triggered, files
}

// ask sends method path to base with the Host header host (none: the
// address's), the given headers and body.
func ask(t *testing.T, base, method, path, host, body string, hdr ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A page whose DNS name was rebound to the endpoint is asked for by that
// name: the status page, /files and the run answer it 421 and do nothing.
// IP addresses, localhost and the names of http.hosts are answered, and
// health and metrics answer any name.
func TestHostGuard(t *testing.T) {
	base, triggered, files := guardServer(t)
	port := base[strings.LastIndex(base, ":")+1:]
	type route struct {
		method, path, body, ctype string
		ok                        int
		want                      string
	}
	guarded := []route{
		{"GET", "/", "", "", 200, "v-guard"},
		{"GET", "/status", "", "", 200, "v-guard"},
		{"GET", "/files?job=claims-in", "", "", 200, "row"},
		{"POST", "/jobs/claims-in/run", "", "", 202, "started"},
		{"POST", "/files/7/retry", `{"by":"jan"}`, "application/json", 200, `"id":7`},
		{"POST", "/files/7/abandon", `{"by":"jan","reason":"dup"}`, "application/json", 200, `"id":7`},
	}
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1.evil.example:" + port,
		"localhost.evil.example", "exchanged01.internal.evil.example", "xn--80ak6aa92e.com:" + port} {
		for _, r := range guarded {
			code, body := ask(t, base, r.method, r.path, host, r.body, "Content-Type", r.ctype)
			if code != http.StatusMisdirectedRequest || strings.Contains(body, r.want) {
				t.Errorf("%s %s with Host %s = %d %q, want 421", r.method, r.path, host, code, body)
			}
		}
		for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "exchanged_build_info"} {
			if code, body := ask(t, base, "GET", path, host, ""); code != 200 || !strings.Contains(body, want) {
				t.Errorf("GET %s with Host %s = %d %q, want 200", path, host, code, body)
			}
		}
	}
	if len(*triggered) != 0 || len(files.calls) != 0 {
		t.Fatalf("a misdirected request acted: runs %v, files %v", *triggered, files.calls)
	}
	hosts := []string{"", "127.0.0.1:" + port, "127.0.0.1", "[::1]:" + port, "localhost:" + port, "LocalHost",
		"localhost.:" + port, "exchanged01.internal:" + port, "Exchanged01.Internal", "10.1.2.3:" + port}
	for _, host := range hosts {
		for _, r := range guarded {
			if code, body := ask(t, base, r.method, r.path, host, r.body, "Content-Type", r.ctype); code != r.ok || !strings.Contains(body, r.want) {
				t.Errorf("%s %s with Host %q = %d %q, want %d", r.method, r.path, host, code, body, r.ok)
			}
		}
	}
	if len(*triggered) != len(hosts) || len(files.calls) != 3*len(hosts) {
		t.Errorf("runs %d, file calls %d; want %d and %d", len(*triggered), len(files.calls), len(hosts), 3*len(hosts))
	}
}

// POST /jobs/NAME/run refuses another origin (403) and a web form's body
// (415); curl's bodiless POST, a JSON body and the endpoint's own origin
// start the run.
func TestRunRefusesFormsAndOtherOrigins(t *testing.T) {
	base, triggered, _ := guardServer(t)
	own := strings.TrimPrefix(base, "http://")
	for _, c := range []struct {
		body string
		hdr  []string
		code int
	}{
		{"", nil, 202},
		{"{}", []string{"Content-Type", "application/json"}, 202},
		{"", []string{"Origin", base}, 202},
		{"", []string{"Origin", "HTTP://" + strings.ToUpper(own)}, 202},
		{"", []string{"Origin", "http://evil.example"}, 403},
		{"", []string{"Origin", "http://evil.example:" + own[strings.LastIndex(own, ":")+1:]}, 403},
		{"", []string{"Origin", "null"}, 403},
		{"", []string{"Origin", "http://localhost:" + own[strings.LastIndex(own, ":")+1:]}, 403},
		{"a=1", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"a", []string{"Content-Type", "text/plain"}, 415},
		{"--x--", []string{"Content-Type", "multipart/form-data; boundary=x"}, 415},
		{"a=1", []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", base}, 415},
	} {
		code, body := ask(t, base, "POST", "/jobs/claims-in/run", "", c.body, c.hdr...)
		if code != c.code {
			t.Errorf("POST run %v = %d %q, want %d", c.hdr, code, body, c.code)
		}
	}
	if len(*triggered) != 4 {
		t.Errorf("runs started: %v, want 4", *triggered)
	}
}
