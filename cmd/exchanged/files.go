package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/internal/ops"
	"github.com/exchanged/exchanged/ledger"
)

// FilesCommand lists the files that are not done, and retries or
// abandons one (exchanged files).
//
// With no daemon on state_dir it takes the state_dir lock and works on the
// ledger itself, so no run can move the file meanwhile. While a daemon
// holds the lock it asks the daemon's ops endpoint (GET /files, POST
// /files/ID/retry|abandon), which refuses an action while the file's job
// is running (try again after the run) and triggers the job after a retry.
type FilesCommand struct {
	stdout, stderr io.Writer
}

const filesUsage = `exchanged files --config FILE [--job J] [--state pending|failed] [--json]
       exchanged files retry --config FILE [--by NAME] [--reason TEXT] [--force] [--json] ID
       exchanged files abandon --config FILE --reason TEXT [--by NAME] [--source-gone-ok] [--json] ID`

// Run runs "files", "files retry" or "files abandon".
func (c *FilesCommand) Run(ctx context.Context, args []string) error {
	action := "list"
	if len(args) > 0 && (args[0] == "retry" || args[0] == "abandon") {
		action, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("files "+action, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", "", "config file")
	asJSON := fs.Bool("json", false, "print JSON")
	job := fs.String("job", "", "only the files of this job (list)")
	state := fs.String("state", "", "only pending (no failure recorded) or failed files (list)")
	by := fs.String("by", "", "who acts, recorded with the OS user (retry, abandon)")
	reason := fs.String("reason", "", "why, recorded in the ledger; never personal data (required for abandon)")
	force := fs.Bool("force", false, "retry even when the next run cannot deliver the file (retry)")
	sourceGoneOK := fs.Bool("source-gone-ok", false, "abandon even when the source is gone and the staged copy is the last (abandon)")
	// Flags may follow the ID too: parse the rest again after it.
	var rest []string
	for a := args; ; {
		if err := fs.Parse(a); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		a = fs.Args()[1:]
	}
	var id int64
	switch {
	case action == "list" && len(rest) > 0:
		return fmt.Errorf("%w: %s", errUsage, filesUsage)
	case action != "list":
		var err error
		if len(rest) == 1 {
			id, err = strconv.ParseInt(rest[0], 10, 64)
		}
		if len(rest) != 1 || err != nil || id <= 0 {
			return fmt.Errorf("%w: exchanged files %s: one file ID (see exchanged files): %s", errUsage, action, filesUsage)
		}
	}
	if action == "abandon" && strings.TrimSpace(*reason) == "" {
		return fmt.Errorf("%w: exchanged files abandon: --reason is required", errUsage)
	}
	if err := checkRequest(*by, *reason, maxByLen); err != nil {
		return fmt.Errorf("%w: exchanged files %s: %w", errUsage, action, err)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	actor := actorName(*by)
	var v any
	a, err := openApp(cfg, c.stderr)
	switch {
	case err == nil:
		defer a.Close()
		o := &fileOps{cfg: cfg, ledger: a.ledger, log: a.log.Named("files"), now: time.Now}
		if action != "list" && cfg.Cluster != nil {
			// The other nodes of a cluster may run the file's job.
			var unlease func()
			if o.ledger, unlease, err = clusterAction(a, cfg, id); err != nil {
				return err
			}
			defer unlease()
		}
		switch action {
		case "list":
			v, err = o.list(*job, *state)
		case "retry":
			v, err = o.retry(id, actor, *reason, *force)
		case "abandon":
			v, err = o.abandon(id, actor, *reason, *sourceGoneOK)
		}
	case errors.Is(err, exchange.ErrStateDirInUse):
		v, err = c.viaDaemon(ctx, cfg, action, id, *job, *state, ops.FileRequest{By: actor, Reason: *reason, Force: *force, SourceGoneOK: *sourceGoneOK, StateDir: cfg.StateDir})
		if err != nil && action == "list" {
			// A list needs no daemon's help: whatever holds state_dir (a
			// daemon without, or with another, endpoint; once; purge).
			v, err = listReadOnly(cfg, *job, *state)
		}
	}
	if err != nil {
		if errors.Is(err, ops.ErrInvalid) {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return err
	}
	if *asJSON {
		return json.NewEncoder(c.stdout).Encode(v)
	}
	switch v := v.(type) {
	case []fileRow:
		printFiles(c.stdout, v)
	case *actionReport:
		printAction(c.stdout, v)
	}
	return nil
}

// maxByLen is the longest --by, in bytes: the actor recorded adds the OS
// user, and through the daemon the caller's address, within
// ledger.MaxReasonLen.
const maxByLen = 200

// checkRequest refuses a by longer than max bytes or holding a control
// character, and a reason that is given and not acceptable
// (ledger.CheckReason), as ops.ErrInvalid.
func checkRequest(by, reason string, max int) error {
	if len(by) > max || strings.ContainsFunc(by, unicode.IsControl) {
		return fmt.Errorf("--by: at most %d bytes without control characters: %w", max, ops.ErrInvalid)
	}
	if reason != "" {
		if err := ledger.CheckReason(reason); err != nil {
			return fmt.Errorf("--reason: %w: %w", err, ops.ErrInvalid)
		}
	}
	return nil
}

// actorName is who acts: the OS user, and by if given.
func actorName(by string) string {
	os := "unknown"
	if u, err := user.Current(); err == nil {
		os = u.Username
	}
	if by = strings.TrimSpace(by); by != "" {
		return by + " (os user " + os + ")"
	}
	return os
}

// listReadOnly lists the files not done from the ledger opened
// read-only, beside the daemon that holds it.
func listReadOnly(cfg *config.Config, job, state string) ([]fileRow, error) {
	l, err := openLedgerReadOnly(cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return (&fileOps{cfg: cfg, ledger: l, now: time.Now}).list(job, state)
}

// errNoEndpoint is returned when the daemon holds state_dir with its ops
// endpoint off.
var errNoEndpoint = errors.New(`a daemon holds state_dir and its ops endpoint is off (http.listen: ""): turn it on, or stop the daemon, to act on files`)

// viaDaemon asks the daemon that holds state_dir, through its ops
// endpoint on this host.
func (c *FilesCommand) viaDaemon(ctx context.Context, cfg *config.Config, action string, id int64, job, state string, req ops.FileRequest) (any, error) {
	base, err := opsBase(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var hr *http.Request
	if action == "list" {
		q := url.Values{}
		if job != "" {
			q.Set("job", job)
		}
		if state != "" {
			q.Set("state", state)
		}
		hr, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/files?"+q.Encode(), nil)
	} else {
		b, _ := json.Marshal(req)
		hr, err = http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/files/%d/%s", base, id, action), bytes.NewReader(b))
		if hr != nil {
			hr.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return nil, err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(hr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("state_dir is locked by another exchanged command (once, purge, files?), or by a daemon not listening on %s: try again when it is done: %w", base, err)
		}
		return nil, fmt.Errorf("a daemon holds state_dir; its ops endpoint %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		return nil, fmt.Errorf("%w: %s", ops.ErrInvalid, strings.TrimSpace(string(body)))
	case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(string(body), "404 page not found"):
		return nil, fmt.Errorf("the daemon's ops endpoint %s has no /files: a daemon of an earlier version holds state_dir; upgrade it, or stop it to act on the ledger", base)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("the daemon answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if action == "list" {
		var rows []fileRow
		return rows, json.Unmarshal(body, &rows)
	}
	var rep actionReport
	return &rep, json.Unmarshal(body, &rep)
}

// opsBase returns the URL of the daemon's ops endpoint on this host: a
// wildcard listen address is asked on loopback.
func opsBase(cfg *config.Config) (string, error) {
	addr := listenAddr(cfg)
	if addr == "" {
		return "", errNoEndpoint
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("http.listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// printable quotes s if it holds a control character, so that no name or
// error can drive the terminal.
func printable(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}

func printFiles(w io.Writer, rows []fileRow) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no files waiting")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tJOB\tPARTNER\tNAME\tSTEP\tATTEMPTS\tAGE\tLAST ERROR")
	for _, r := range rows {
		e := r.Error
		if e == "" {
			e = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, printable(r.Job), printable(r.Partner),
			printable(r.Name), r.Step, r.Attempts, age(r.AgeSeconds), printable(e))
	}
	tw.Flush()
}

// age writes an age in seconds short: 45s, 12m, 2h5m, 3d4h.
func age(s int64) string {
	s = max(s, 0)
	d := time.Duration(s) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", s)
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

func printAction(w io.Writer, r *actionReport) {
	f := r.File
	fmt.Fprintf(w, "%s: file %d (job %s, %s:%s/%s, was waiting to %s), recorded as action %d by %s\n",
		r.Action, f.ID, printable(f.Job), printable(f.Partner), printable(f.Dir), printable(f.Name), f.Step, r.ActionID, printable(r.By))
	for _, d := range r.Superseded {
		fmt.Fprintf(w, "superseded delivery %d to %s:%s (begun %s, %s): the old destination may hold %s; ask %s to remove it\n",
			d.DeliveryID, printable(d.Partner), printable(d.Dir), d.Mode, d.State, printable(d.MayHold), printable(d.Partner))
		if d.Breach != "" {
			fmt.Fprintf(w, "POSSIBLE DATA BREACH: %s is not the partner the job now names and may hold the file; see: %s\n",
				printable(d.Partner), printable(d.Breach))
		}
	}
	for _, d := range r.Open {
		fmt.Fprintf(w, "delivery %d to %s:%s was begun and not delivered (%s, %s): the destination may hold %s; it stays on record as a disclosure\n",
			d.DeliveryID, printable(d.Partner), printable(d.Dir), d.Mode, d.State, printable(d.MayHold))
	}
	for _, m := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", printable(m))
	}
	if r.Action == "abandon" {
		switch {
		case len(r.Staging) == 0 && r.StagingErr == "":
			fmt.Fprintln(w, "staging: nothing was staged for it")
		case len(r.Staging) == 0:
			fmt.Fprintln(w, "staging: nothing was removed")
		default:
			fmt.Fprintf(w, "staging removed: %s\n", printable(strings.Join(r.Staging, ", ")))
		}
		if r.StagingErr != "" {
			fmt.Fprintf(w, "staging NOT wholly removed: %s\n", printable(r.StagingErr))
		}
		fmt.Fprintf(w, "source: %s\n", printable(r.Source))
	}
	fmt.Fprintln(w, r.Next)
}
