package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
)

// The daemon's ops endpoint answers the status page, /files and the run
// by the names of http.hosts and its IP address, not by another name (a
// DNS rebinding page); health and metrics answer any name.
func TestDaemonOpsHosts(t *testing.T) {
	work := t.TempDir()
	cfg, addr := localConfig(t, work, claimsInJob)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	listen := `http: {listen: "` + addr + `"}`
	if !strings.Contains(string(b), listen) {
		t.Fatalf("no %s in the config", listen)
	}
	writeFile(t, cfg, []byte(strings.Replace(string(b), listen,
		`http: {listen: "`+addr+`", hosts: [exchanged01.internal]}`, 1)))
	p := startDaemon(t, cfg, addr)
	port := addr[strings.LastIndex(addr, ":")+1:]
	ask := func(method, path, host string, hdr ...string) int {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, host string
		code               int
	}{
		{"GET", "/status", "exchanged01.internal:" + port, 200},
		{"GET", "/", addr, 200},
		{"GET", "/files", "localhost:" + port, 200},
		{"GET", "/status", "evil.example:" + port, 421},
		{"GET", "/files", "evil.example:" + port, 421},
		{"POST", "/jobs/claims-in/run", "evil.example:" + port, 421},
		{"GET", "/metrics", "evil.example:" + port, 200},
		{"GET", "/healthz", "evil.example:" + port, 200},
	} {
		if code := ask(c.method, c.path, c.host); code != c.code {
			t.Errorf("%s %s with Host %s = %d, want %d", c.method, c.path, c.host, code, c.code)
		}
	}
	if code := ask("POST", "/jobs/claims-in/run", addr, "Origin", "http://evil.example"); code != http.StatusForbidden {
		t.Errorf("POST run from another origin = %d, want 403", code)
	}
	if n := len(p.events("run started")); n != 0 {
		t.Errorf("%d run(s) started by refused requests:\n%s", n, p.log())
	}
}

// http.hosts is read at start, as http.listen: a reload that changes it is
// refused by name. The endpoint answers its names and the host of
// http.listen.
func TestOpsHostsRestartOnly(t *testing.T) {
	old := &config.Config{HTTP: config.HTTP{Hosts: []string{"a.internal"}}}
	changed := &config.Config{HTTP: config.HTTP{Hosts: []string{"a.internal", "b.internal"}}}
	if err := restartOnly(old, changed); err == nil || !strings.Contains(err.Error(), "http.hosts: changed") {
		t.Errorf("reload changing http.hosts: %v", err)
	}
	if err := restartOnly(old, old); err != nil {
		t.Errorf("reload keeping http.hosts: %v", err)
	}
	listen := "exchanged01.internal:9464"
	got := opsHosts(&config.Config{HTTP: config.HTTP{Listen: &listen, Hosts: []string{"a.internal"}}})
	if strings.Join(got, ",") != "a.internal,exchanged01.internal" {
		t.Errorf("opsHosts = %q", got)
	}
}
