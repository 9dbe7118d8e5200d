package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HealthCommand asks a running daemon's ops endpoint whether it is up. It
// is the container's HEALTHCHECK: distroless images have no shell or curl.
type HealthCommand struct {
	stdout, stderr io.Writer
}

// Run GETs --url and returns nil on a 200 answer, an error otherwise.
func (c *HealthCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	raw := fs.String("url", "http://127.0.0.1:9464/healthz", "the ops endpoint to ask (/healthz or /readyz)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: exchanged health [--url URL] [--timeout 5s]", errUsage)
	}
	u, err := url.Parse(*raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%w: --url must be an http:// URL, such as http://127.0.0.1:9464/healthz", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	msg := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s: %s %s", u.Redacted(), resp.Status, msg)
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}
