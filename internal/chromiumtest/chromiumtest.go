// Package chromiumtest loads a page in a real headless Chromium (Debian's /usr/bin/chromium)
// for tests, and returns its rendered DOM and every error the browser reported while loading
// it: console errors, uncaught exceptions, resources that failed to load and Content Security
// Policy violations. It speaks the DevTools protocol over --remote-debugging-pipe, so it needs
// no port and no library. Without chromium the test is skipped, except under CI=true, where it
// fails.
package chromiumtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/sshdtest/peer"
)

// Path is where Debian's chromium package installs the browser.
var Path = "/usr/bin/chromium"

// Timeout bounds one Load: the browser's start, the page's load and the browser's exit.
const Timeout = time.Minute

// settle is how long Load keeps listening after the load event, for errors reported late.
const settle = 300 * time.Millisecond

// Page is a page as the browser rendered it.
type Page struct {
	DOM    string   // the document's outerHTML after the load event
	Status int      // the HTTP status of the main document
	Errors []string // each error the browser reported, as "source: text"
}

// Available reports whether chromium is installed here: nil if it is, otherwise why not.
func Available() error {
	if _, err := exec.LookPath(Path); err != nil {
		return fmt.Errorf("chromiumtest: %w", err)
	}
	return nil
}

// Load opens url in a new headless chromium, waits for the page's load event and returns
// the page. A missing chromium skips the test, or fails it under CI=true; any other failure
// fails the test.
func Load(tb testing.TB, url string) Page {
	tb.Helper()
	if err := Available(); err != nil {
		peer.Unavailable(tb, "chromiumtest: chromium", err)
		return Page{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	p, err := load(ctx, tb.TempDir(), url)
	if err != nil {
		tb.Fatalf("chromiumtest: load %s: %v", url, err)
	}
	return p
}

// load runs chromium with its profile in dir and loads url, all within ctx.
func load(ctx context.Context, dir, url string) (Page, error) {
	toBrowser, cmdIn, err := os.Pipe() // the browser reads commands on fd 3
	if err != nil {
		return Page{}, err
	}
	cmdOut, fromBrowser, err := os.Pipe() // and writes answers and events on fd 4
	if err != nil {
		toBrowser.Close()
		cmdIn.Close()
		return Page{}, err
	}
	stderr := &limited{w: &bytes.Buffer{}, n: 64 << 10}
	cmd := exec.Command(Path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir="+dir, "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toBrowser, fromBrowser}
	cmd.Stderr = stderr
	proc, err := peer.Start(cmd)
	toBrowser.Close()
	fromBrowser.Close()
	if err != nil {
		cmdIn.Close()
		cmdOut.Close()
		return Page{}, fmt.Errorf("start chromium: %w", err)
	}
	c := newConn(cmdIn, cmdOut)
	defer func() {
		_, _ = c.call(ctx, "", "Browser.close", nil) // best effort; then make sure
		select {
		case <-proc.Done():
		case <-time.After(5 * time.Second):
		}
		proc.Kill()
		cmdIn.Close()
		cmdOut.Close()
	}()
	p, err := c.load(ctx, url)
	if err != nil {
		return Page{}, fmt.Errorf("%w (chromium stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	return p, nil
}

// load opens url in a new target attached to a session of its own, with the Log, Runtime and
// Page domains on, and collects what they report until the load event and a little after.
func (c *conn) load(ctx context.Context, url string) (Page, error) {
	var target struct{ TargetID string }
	if err := c.callInto(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return Page{}, err
	}
	var attached struct{ SessionID string }
	if err := c.callInto(ctx, "", "Target.attachToTarget",
		map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return Page{}, err
	}
	s := attached.SessionID
	c.watch(s)
	for _, m := range []string{"Log.enable", "Runtime.enable", "Page.enable", "Network.enable"} {
		if _, err := c.call(ctx, s, m, nil); err != nil {
			return Page{}, err
		}
	}
	var nav struct{ ErrorText string }
	if err := c.callInto(ctx, s, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return Page{}, err
	}
	if nav.ErrorText != "" {
		return Page{}, fmt.Errorf("navigate: %s", nav.ErrorText)
	}
	select {
	case <-c.loaded:
	case <-ctx.Done():
		return Page{}, fmt.Errorf("no load event: %w", ctx.Err())
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return Page{}, ctx.Err()
	}
	var doc struct{ Root struct{ NodeID int } }
	if err := c.callInto(ctx, s, "DOM.getDocument", map[string]any{"depth": 0}, &doc); err != nil {
		return Page{}, err
	}
	var html struct{ OuterHTML string }
	if err := c.callInto(ctx, s, "DOM.getOuterHTML", map[string]any{"nodeId": doc.Root.NodeID}, &html); err != nil {
		return Page{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return Page{DOM: html.OuterHTML, Status: c.status, Errors: append([]string(nil), c.errs...)}, nil
}

// conn is a DevTools protocol connection over the browser's pipe: JSON messages, each
// ended by a NUL byte.
type conn struct {
	w io.Writer

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan message
	session string // the session whose events count; "" until watch
	errs    []string
	status  int
	loaded  chan struct{} // closed on the load event of the page navigated to
	armed   bool          // the main frame navigated away from about:blank: its next load event counts
	isLoad  bool
	readErr error
}

type message struct {
	ID        int             `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func newConn(w io.Writer, r io.Reader) *conn {
	c := &conn{w: w, waiting: map[int]chan message{}, loaded: make(chan struct{})}
	go c.read(r)
	return c
}

// watch makes the events of session s count.
func (c *conn) watch(s string) {
	c.mu.Lock()
	c.session = s
	c.mu.Unlock()
}

// read dispatches the browser's messages until the pipe closes.
func (c *conn) read(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		b, err := br.ReadBytes(0)
		if err != nil {
			c.mu.Lock()
			c.readErr = fmt.Errorf("chromium closed its pipe: %w", err)
			for id, ch := range c.waiting {
				close(ch)
				delete(c.waiting, id)
			}
			c.mu.Unlock()
			return
		}
		var m message
		if err := json.Unmarshal(b[:len(b)-1], &m); err != nil {
			continue
		}
		c.mu.Lock()
		if ch, ok := c.waiting[m.ID]; ok && m.ID != 0 {
			delete(c.waiting, m.ID)
			ch <- m
		} else if m.Method != "" && m.SessionID != "" && m.SessionID == c.session {
			c.event(m)
		}
		c.mu.Unlock()
	}
}

// event records what an event of the watched session says; c.mu is held.
func (c *conn) event(m message) {
	var p struct {
		Type string // Runtime.consoleAPICalled, Network.responseReceived
		Args []struct {
			Value       any
			Description string
		}
		Entry   struct{ Source, Level, Text, URL string } // Log.entryAdded
		Details struct {                                  // Runtime.exceptionThrown
			Text      string
			Exception struct{ Description string }
		} `json:"exceptionDetails"`
		Response struct { // Network.responseReceived
			URL    string
			Status int
		}
		Frame struct{ ParentID, URL string } // Page.frameNavigated
	}
	_ = json.Unmarshal(m.Params, &p)
	switch m.Method {
	case "Runtime.consoleAPICalled":
		if p.Type == "error" || p.Type == "assert" {
			var parts []string
			for _, a := range p.Args {
				if a.Value != nil {
					parts = append(parts, fmt.Sprint(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			c.errs = append(c.errs, "console: "+strings.Join(parts, " "))
		}
	case "Runtime.exceptionThrown":
		c.errs = append(c.errs, "exception: "+p.Details.Text+" "+p.Details.Exception.Description)
	case "Log.entryAdded":
		if p.Entry.Level == "error" {
			c.errs = append(c.errs, p.Entry.Source+": "+p.Entry.Text+" "+p.Entry.URL)
		}
	case "Network.responseReceived":
		if p.Type == "Document" && c.status == 0 {
			c.status = p.Response.Status
		}
	case "Page.frameNavigated":
		if p.Frame.ParentID == "" && p.Frame.URL != "about:blank" {
			c.armed = true
		}
	case "Page.loadEventFired":
		if c.armed && !c.isLoad {
			c.isLoad = true
			close(c.loaded)
		}
	}
}

// call sends method with params to session (the browser for "") and returns its result.
func (c *conn) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	ch := make(chan message, 1)
	c.mu.Lock()
	if c.readErr != nil {
		err := c.readErr
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	id := c.nextID
	c.waiting[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"id": id, "sessionId": session, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if session == "" {
		b, _ = json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	}
	if _, err := c.w.Write(append(b, 0)); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: no answer: %w", method, c.readErr)
		}
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		return m.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// callInto is call, decoding the result into v.
func (c *conn) callInto(ctx context.Context, session, method string, params, v any) error {
	res, err := c.call(ctx, session, method, params)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res, v); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// limited writes at most n bytes to w and drops the rest.
type limited struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (l *limited) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k := min(len(b), l.n); k > 0 {
		l.w.Write(b[:k])
		l.n -= k
	}
	return len(b), nil
}

func (l *limited) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.w)
}
