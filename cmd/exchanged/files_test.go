package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/exchanged/exchanged/internal/sshdtest"
	"github.com/exchanged/exchanged/ledger"
)

// stuckJobs are two jobs of local partners (see localConfig): claims-in
// delivers to a directory that does not exist (/wrong, fixed to /inbox
// later); stuck-in keeps its sources and delivers to one that never will.
const stuckJobs = `  claims-in:
    schedule: "@yearly"
    source: {partner: acme, dir: /outbox, match: "claims_*.csv", done_marker: ".done"}
    destinations:
      - {partner: cases, dir: /wrong}
  stuck-in:
    schedule: "@yearly"
    source: {partner: acme, dir: /outbox, match: "stuck_*.csv", done_marker: ".done", after: keep}
    destinations:
      - {partner: cases, dir: /nowhere}
`

var (
	claimsBytes = []byte("claim;amount\nA-1;10\n")
	stuckBytes  = []byte("claim;amount\nB-1;20\n")
)

// dropStuck drops one file for each of stuckJobs' jobs at acme.
func dropStuck(t *testing.T, work string) {
	t.Helper()
	writeFile(t, filepath.Join(work, "acme/outbox/claims_1.csv"), claimsBytes)
	writeFile(t, filepath.Join(work, "acme/outbox/claims_1.csv.done"), nil)
	writeFile(t, filepath.Join(work, "acme/outbox/stuck_1.csv"), stuckBytes)
	writeFile(t, filepath.Join(work, "acme/outbox/stuck_1.csv.done"), nil)
}

// fixDestination points claims-in at /inbox, which exists.
func fixDestination(t *testing.T, cfg string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, []byte(strings.Replace(string(b), "dir: /wrong", "dir: /inbox", 1)))
}

// stuckRows runs "exchanged files --json" and returns its rows.
func stuckRows(t *testing.T, cfg string, args ...string) []fileRow {
	t.Helper()
	r := exchanged(t, nil, append([]string{"files", "--config", cfg, "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("exchanged files: %+v", r)
	}
	var rows []fileRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("files --json: %v\n%s", err, r.stdout)
	}
	return rows
}

// filesJSON runs "exchanged files --json" and returns its rows by job.
func filesJSON(t *testing.T, cfg string, args ...string) map[string]fileRow {
	t.Helper()
	out := map[string]fileRow{}
	for _, row := range stuckRows(t, cfg, args...) {
		out[row.Job] = row
	}
	return out
}

// checkStuck checks the listing of the two stuck files after their
// failed runs.
func checkStuck(t *testing.T, cfg string) (claims, stuck fileRow) {
	t.Helper()
	rows := filesJSON(t, cfg)
	claims, stuck = rows["claims-in"], rows["stuck-in"]
	if len(rows) != 2 || claims.Name != "claims_1.csv" || claims.Step != "deliver" || claims.Attempts != 1 || !claims.Failed ||
		!strings.Contains(claims.Error, "/wrong") || stuck.Name != "stuck_1.csv" || stuck.Attempts != 1 {
		t.Fatalf("files = %+v", rows)
	}
	if f := filesJSON(t, cfg, "--job", "stuck-in", "--state", "failed"); len(f) != 1 || f["stuck-in"].ID != stuck.ID {
		t.Errorf("files --job stuck-in --state failed = %+v", f)
	}
	if f := filesJSON(t, cfg, "--state", "pending"); len(f) != 0 {
		t.Errorf("files --state pending = %+v, want none (both failed)", f)
	}
	r := exchanged(t, nil, "files", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "LAST ERROR") || !strings.Contains(r.stdout, "claims_1.csv") ||
		!strings.Contains(r.stdout, "deliver") {
		t.Errorf("files (table) = %+v", r)
	}
	return claims, stuck
}

// checkRetried checks what a retry of claims-in printed and left: the old
// destination reported, the file delivered once at the new one, the
// superseded delivery and the action on record, the audit chain whole.
func checkRetried(t *testing.T, work, cfg string, id int64, out string) {
	t.Helper()
	for _, want := range []string{"retry: file " + strconv.FormatInt(id, 10), "superseded delivery", "cases:/wrong",
		"may hold a possibly partial file under its temp name", "by tester (os user "} {
		if !strings.Contains(out, want) {
			t.Errorf("retry output lacks %q:\n%s", want, out)
		}
	}
	inbox := filepath.Join(work, "cases/inbox")
	if got := names(t, inbox); !slices.Equal(got, []string{"claims_1.csv"}) {
		t.Errorf("inbox = %v, want claims_1.csv alone", got)
	}
	if got, _ := os.ReadFile(filepath.Join(inbox, "claims_1.csv")); string(got) != string(claimsBytes) {
		t.Errorf("delivered %q, want %q", got, claimsBytes)
	}
	l, err := ledger.OpenReadOnly(filepath.Join(work, "state/ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.File(id)
	if err != nil || f.State != ledger.StateDone {
		t.Errorf("file after retry = %+v, %v", f, err)
	}
	ds, err := l.AllDeliveries(id)
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
	if ds[0].Dir != "/wrong" || ds[0].SupersededAt.IsZero() || ds[0].State == ledger.DeliveryDelivered ||
		ds[1].Dir != "/inbox" || !ds[1].SupersededAt.IsZero() || ds[1].State != ledger.DeliveryDelivered {
		t.Errorf("deliveries = %+v", ds)
	}
	as, err := l.FileActions(id)
	if err != nil || len(as) != 1 || as[0].Action != ledger.ActionRetry || !strings.HasPrefix(as[0].Actor, "tester") ||
		!strings.Contains(as[0].Detail, `"dir":"/wrong"`) {
		t.Errorf("actions = %+v, %v", as, err)
	}
	if r := exchanged(t, nil, "audit", "verify", "--config", cfg); r.code != 0 {
		t.Errorf("audit verify after retry: %+v", r)
	}
}

// checkAbandoned checks what an abandon of stuck-in printed and left:
// nothing staged for it, the reason on record, the source in place.
func checkAbandoned(t *testing.T, work string, id int64, reason, out string) {
	t.Helper()
	for _, want := range []string{"abandon: file " + strconv.FormatInt(id, 10), "staging removed: " + strconv.FormatInt(id, 10) + ".src",
		"source: left where it was (after: keep)", "no run takes it again"} {
		if !strings.Contains(out, want) {
			t.Errorf("abandon output lacks %q:\n%s", want, out)
		}
	}
	ids := strconv.FormatInt(id, 10)
	for _, n := range names(t, filepath.Join(work, "state/staging")) {
		if n == ids || strings.HasPrefix(n, ids+".") || strings.HasPrefix(n, ids+"-") {
			t.Errorf("staging still holds %s for the abandoned file", n)
		}
	}
	if got, err := os.ReadFile(filepath.Join(work, "acme/outbox/stuck_1.csv")); err != nil || string(got) != string(stuckBytes) {
		t.Errorf("source after abandon: %q, %v", got, err)
	}
	l, err := ledger.OpenReadOnly(filepath.Join(work, "state/ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	as, err := l.FileActions(id)
	if err != nil || len(as) != 1 || as[0].Action != ledger.ActionAbandon || as[0].Reason != reason ||
		!strings.HasPrefix(as[0].Actor, "tester") || as[0].State != ledger.StateTransformed {
		t.Errorf("actions = %+v, %v", as, err)
	}
	if f, _ := l.File(id); f == nil || f.State != ledger.StateRejected {
		t.Errorf("abandoned file = %+v", f)
	}
}

// Without a daemon: files lists the stuck files, retry has the one whose
// destination was fixed delivered once by the next run, abandon empties
// the other's staging and records why; the next run takes neither again.
func TestFilesWithoutDaemon(t *testing.T) {
	work := t.TempDir()
	cfg, _ := localConfig(t, work, stuckJobs)
	dropStuck(t, work)
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-in", "stuck-in"); r.code != exitFailed {
		t.Fatalf("first run: %+v", r)
	}
	claims, stuck := checkStuck(t, cfg)

	// The config fixed, the delivery begun for /wrong is stuck.
	fixDestination(t, cfg)
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-in"); r.code != exitFailed {
		t.Fatalf("run after the fix: %+v", r)
	}
	if row := filesJSON(t, cfg, "--job", "claims-in")["claims-in"]; !strings.Contains(row.Error, "destination changed since the delivery began") ||
		!strings.Contains(row.Error, fmt.Sprintf(`"exchanged files retry %d"`, claims.ID)) {
		t.Fatalf("after the fix: %+v", row)
	}

	r := exchanged(t, nil, "files", "retry", "--config", cfg, strconv.FormatInt(claims.ID, 10), "--by", "tester")
	if r.code != 0 {
		t.Fatalf("files retry: %+v", r)
	}
	if !strings.Contains(r.stderr, `"msg":"file action"`) || !strings.Contains(r.stderr, `"action":"retry"`) ||
		!strings.Contains(r.stderr, `"msg":"delivery superseded"`) {
		t.Errorf("retry log:\n%s", r.stderr)
	}
	if row := filesJSON(t, cfg, "--job", "claims-in")["claims-in"]; row.Attempts != 0 || row.Error != "" {
		t.Errorf("after retry: %+v, want failures cleared", row)
	}
	retried := r.stdout
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-in"); r.code != 0 {
		t.Fatalf("run after retry: %+v", r)
	}
	checkRetried(t, work, cfg, claims.ID, retried)

	reason := "partner directory does not exist, ticket OPS-17"
	r = exchanged(t, nil, "files", "abandon", "--config", cfg, "--by", "tester", "--reason", reason, strconv.FormatInt(stuck.ID, 10))
	if r.code != 0 {
		t.Fatalf("files abandon: %+v", r)
	}
	if strings.Contains(r.stderr, reason) || !strings.Contains(r.stderr, fmt.Sprintf(`"reason_len":%d`, len(reason))) {
		t.Errorf("abandon log must give the reason's length, not the reason:\n%s", r.stderr)
	}
	checkAbandoned(t, work, stuck.ID, reason, r.stdout)

	// The next run stages neither again; both are finished.
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-in", "stuck-in"); r.code != 0 {
		t.Fatalf("run after abandon: %+v", r)
	}
	if rows := filesJSON(t, cfg); len(rows) != 0 {
		t.Errorf("files after all = %+v", rows)
	}
	if got := names(t, filepath.Join(work, "state/staging")); len(got) != 0 {
		t.Errorf("staging after all = %v", got)
	}
	if r := exchanged(t, nil, "files", "retry", "--config", cfg, strconv.FormatInt(stuck.ID, 10)); r.code != exitFailed ||
		!strings.Contains(r.stderr, "not stuck") {
		t.Errorf("retry of an abandoned file: %+v", r)
	}
	if r := exchanged(t, nil, "files", "abandon", "--config", cfg, "7"); r.code != exitUsage || !strings.Contains(r.stderr, "--reason is required") {
		t.Errorf("abandon without a reason: %+v", r)
	}
}

// With a daemon holding state_dir: the same through its ops endpoint; a
// retry starts the job's run at once.
func TestFilesThroughDaemon(t *testing.T) {
	work := t.TempDir()
	cfg, addr := localConfig(t, work, stuckJobs)
	dropStuck(t, work)
	p := startDaemon(t, cfg, addr)
	if e := p.trigger("claims-in", 1); e["outcome"] != "failed" {
		t.Fatalf("claims-in: %v", e)
	}
	if e := p.trigger("stuck-in", 1); e["outcome"] != "failed" {
		t.Fatalf("stuck-in: %v", e)
	}
	claims, stuck := checkStuck(t, cfg)

	// The mutating routes take JSON only.
	if code, body := p.request("POST", fmt.Sprintf("/files/%d/abandon", stuck.ID)); code != 415 {
		t.Errorf("POST abandon without a JSON body = %d %s", code, body)
	}
	checkOtherInstance(t, p, cfg, stuck.ID)

	fixDestination(t, cfg)
	p.signal(syscall.SIGHUP)
	p.waitEvents(1, "config reloaded", nil)
	r := exchanged(t, nil, "files", "retry", "--config", cfg, "--by", "tester", strconv.FormatInt(claims.ID, 10))
	if r.code != 0 || !strings.Contains(r.stdout, "was started to take the file") {
		t.Fatalf("files retry via the daemon: %+v", r)
	}
	if e := p.waitEvents(2, "run finished", map[string]any{"job": "claims-in", "logger": nil})[1]; e["outcome"] != "ok" || e["delivered"] != 1.0 {
		t.Fatalf("the run the retry started: %v", e)
	}
	checkRetried(t, work, cfg, claims.ID, r.stdout)
	if ev := p.waitEvents(1, "file action", map[string]any{"action": "retry"})[0]; ev["file_id"] != float64(claims.ID) ||
		ev["job"] != "claims-in" || ev["superseded"] != 1.0 {
		t.Errorf("retry event = %v", ev)
	}

	reason := "partner directory does not exist, ticket OPS-18"
	r = exchanged(t, nil, "files", "abandon", "--config", cfg, "--by", "tester", "--reason", reason, strconv.FormatInt(stuck.ID, 10))
	if r.code != 0 {
		t.Fatalf("files abandon via the daemon: %+v", r)
	}
	checkAbandoned(t, work, stuck.ID, reason, r.stdout)
	ev := p.waitEvents(1, "file action", map[string]any{"action": "abandon"})[0]
	if ev["file_id"] != float64(stuck.ID) || ev["reason_len"] != float64(len(reason)) || strings.Contains(p.log(), reason) {
		t.Errorf("abandon event = %v (the reason itself must not be logged)", ev)
	}
	if r := exchanged(t, nil, "files", "abandon", "--config", cfg, "--reason", "again", strconv.FormatInt(stuck.ID, 10)); r.code != exitFailed ||
		!strings.Contains(r.stderr, "409") {
		t.Errorf("abandon twice via the daemon: %+v", r)
	}
	if rows := filesJSON(t, cfg); len(rows) != 0 {
		t.Errorf("files after all = %+v", rows)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
}

// A transformed file: its output, made for the destination's partner
// and profile, is delivered after a retry when only the directory was
// fixed; when the partner changed, the retry warns that no output was
// made for the new one. Abandon removes a file's outputs with its copy.
func TestFilesRetryTransformed(t *testing.T) {
	work := t.TempDir()
	claims, err := os.ReadFile("../../transform/testdata/claims_canonical.csv")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := localConfig(t, work, `  claims-internal:
    schedule: "@yearly"
    source: {partner: cases, dir: /outbox, match: "*.csv", done_marker: ".done"}
    transform: {layout: claim, profile: internal}
    destinations:
      - {partner: cases, dir: /wrong}
`)
	os.MkdirAll(filepath.Join(work, "cases/inbox/claims"), 0o755)
	writeFile(t, filepath.Join(work, "cases/outbox/c.csv"), claims)
	writeFile(t, filepath.Join(work, "cases/outbox/c.csv.done"), nil)
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-internal"); r.code != exitFailed {
		t.Fatalf("first run: %+v", r)
	}
	row := filesJSON(t, cfg)["claims-internal"]
	if row.Step != "deliver" || row.Attempts != 1 || row.Name != "c.csv" {
		t.Fatalf("stuck = %+v", row)
	}
	id := strconv.FormatInt(row.ID, 10)

	// A second one, abandoned: its copy and its output go.
	writeFile(t, filepath.Join(work, "cases/outbox/d.csv"), claims)
	writeFile(t, filepath.Join(work, "cases/outbox/d.csv.done"), nil)
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-internal"); r.code != exitFailed {
		t.Fatalf("second run: %+v", r)
	}
	var other fileRow
	for _, r := range stuckRows(t, cfg) {
		if r.Name == "d.csv" {
			other = r
		}
	}
	oid := strconv.FormatInt(other.ID, 10)
	// Its source is gone (after: delete): the staged copy is the last,
	// and is not deleted without --source-gone-ok.
	r := exchanged(t, nil, "files", "abandon", "--config", cfg, "--reason", "sent twice", oid)
	if r.code != exitFailed || !strings.Contains(r.stderr, "--source-gone-ok") || !strings.Contains(r.stderr, "the staged copy was the last") {
		t.Fatalf("abandon of the last copy without --source-gone-ok: %+v", r)
	}
	if !slices.Contains(names(t, filepath.Join(work, "state/staging")), oid+".src") || len(stuckRows(t, cfg)) != 2 {
		t.Fatalf("a refused abandon changed something: staging %v", names(t, filepath.Join(work, "state/staging")))
	}
	r = exchanged(t, nil, "files", "abandon", "--config", cfg, "--reason", "sent twice", "--source-gone-ok", oid)
	if r.code != 0 || !strings.Contains(r.stdout, "staging removed: "+oid+".src, "+oid+"/.out-0-cases-internal.csv") ||
		!strings.Contains(r.stdout, "already deleted at the source after it was staged (after: delete)") {
		t.Fatalf("abandon of a transformed file: %+v", r)
	}
	for _, n := range names(t, filepath.Join(work, "state/staging")) {
		if n == oid || strings.HasPrefix(n, oid+".") {
			t.Errorf("staging still holds %s for the abandoned file", n)
		}
	}
	good, _ := os.ReadFile(cfg)

	// The partner changed: no output for it.
	writeFile(t, cfg, []byte(strings.Replace(string(good), "{partner: cases, dir: /wrong}", "{partner: acme, dir: /inbox, profile: creditor-status}", 1)))
	// A retry is refused, nothing changed, unless --force.
	r = exchanged(t, nil, "files", "retry", "--config", cfg, id)
	if r.code != exitFailed || !strings.Contains(r.stderr, "not retried: output 0 was prepared for cases, and the job now names acme") ||
		!strings.Contains(r.stderr, "--force") {
		t.Fatalf("retry after a partner change: %+v", r)
	}
	r = exchanged(t, nil, "files", "retry", "--config", cfg, "--force", id)
	if r.code != 0 || !strings.Contains(r.stdout, "WARNING: output 0 was prepared for cases, and the job now names acme") {
		t.Fatalf("retry --force after a partner change: %+v", r)
	}

	// Back to cases, in the right directory: the output is there.
	writeFile(t, cfg, []byte(strings.Replace(string(good), "dir: /wrong", "dir: /inbox/claims", 1)))
	r = exchanged(t, nil, "files", "retry", "--config", cfg, id)
	if r.code != 0 || strings.Contains(r.stdout, "WARNING") {
		t.Fatalf("retry after the directory fix: %+v", r)
	}
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-internal"); r.code != 0 {
		t.Fatalf("run after retry: %+v", r)
	}
	if got := names(t, filepath.Join(work, "cases/inbox/claims")); !slices.Equal(got, []string{"c.csv"}) {
		t.Errorf("delivered = %v", got)
	}
	l, err := ledger.OpenReadOnly(filepath.Join(work, "state/ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ds, _ := l.AllDeliveries(row.ID)
	if len(ds) != 2 || ds[0].Partner != "cases" || ds[0].Dir != "/wrong" || ds[0].SupersededAt.IsZero() ||
		ds[1].Dir != "/inbox/claims" || ds[1].State != ledger.DeliveryDelivered {
		t.Errorf("deliveries = %+v", ds)
	}
	if as, _ := l.FileActions(row.ID); len(as) != 2 || as[0].Action != ledger.ActionRetry || as[1].Action != ledger.ActionRetry {
		t.Errorf("actions = %+v", as)
	}
}

// A delivery to a real OpenSSH peer cut off mid-upload (the daemon
// killed) leaves its temp file in the old directory; the config then
// names another. While the upload ran, a retry was refused (409); after,
// the retry reports the temp file the old directory really holds, and the
// next run delivers the file once, to the new directory.
func TestFilesRetryReportsTempAtOldDestination(t *testing.T) {
	s := sshdtest.Start(t)
	big := bytes.Repeat([]byte("K-1;J. de Vries;NL91ABNA0417164300;1.234,56\r\n"), 3_000_000) // ~135 MB
	work := t.TempDir()
	old, fixed := filepath.Join(s.Root, "files-old"), filepath.Join(s.Root, "files-new")
	os.MkdirAll(old, 0o755)
	os.MkdirAll(fixed, 0o755)
	writeFile(t, filepath.Join(work, "cases/outbox/acme/big.csv"), big)
	writeFile(t, filepath.Join(work, "cases/outbox/acme/big.csv.done"), nil)
	cfg, addr := peerConfig(t, work, s, paymentsJob(old))

	p := startDaemon(t, cfg, addr)
	if code, body := p.request(http.MethodPost, "/jobs/payments-out/run"); code != http.StatusAccepted {
		t.Fatalf("trigger = %d %s", code, body)
	}
	waitPart(t, p, old)
	r := exchanged(t, nil, "files", "retry", "--config", cfg, "1")
	if r.code != exitFailed || !strings.Contains(r.stderr, "409") || !strings.Contains(r.stderr, "is running") {
		t.Errorf("retry during the upload: %+v, want 409, job running", r)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait()

	b, _ := os.ReadFile(cfg)
	writeFile(t, cfg, bytes.Replace(b, []byte(old), []byte(fixed), 1))
	if r := exchanged(t, nil, "once", "--config", cfg, "payments-out"); r.code != exitFailed ||
		!strings.Contains(r.stderr, "destination changed since the delivery began") {
		t.Fatalf("run with the new directory: %+v", r)
	}
	left := names(t, old)
	if len(left) != 1 || !strings.HasSuffix(left[0], ".part") {
		t.Fatalf("old directory holds %v, want one temp file", left)
	}
	r = exchanged(t, nil, "files", "retry", "--config", cfg, "--json", "1")
	if r.code != 0 {
		t.Fatalf("retry: %+v", r)
	}
	var rep actionReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("retry --json: %v\n%s", err, r.stdout)
	}
	if len(rep.Superseded) != 1 || rep.Superseded[0].Dir != old || rep.Superseded[0].TempName != left[0] ||
		rep.Superseded[0].Partner != "acme" || !strings.Contains(rep.Superseded[0].MayHold, left[0]) {
		t.Fatalf("retry reported %+v, the old directory holds %v", rep.Superseded, left)
	}
	if r := exchanged(t, nil, "once", "--config", cfg, "payments-out"); r.code != 0 {
		t.Fatalf("run after retry: %+v", r)
	}
	if got := names(t, fixed); !slices.Equal(got, []string{"big.csv"}) {
		t.Fatalf("new directory = %v, want big.csv alone", got)
	}
	if got, _ := os.ReadFile(filepath.Join(fixed, "big.csv")); !bytes.Equal(got, big) {
		t.Fatalf("delivered %d of %d bytes", len(got), len(big))
	}
	if got := names(t, old); !slices.Equal(got, left) {
		t.Errorf("old directory = %v, want the temp file left as it was (the partner removes it)", got)
	}
	if st := names(t, filepath.Join(work, "state", "staging")); len(st) != 0 {
		t.Errorf("staging left with %v", st)
	}
}

// checkOtherInstance: an action meant for another state_dir is refused
// by the daemon (another instance on the port); a config naming a port
// nobody listens on, its state_dir held, is told the lock may be another
// command's, and still lists, read-only.
func checkOtherInstance(t *testing.T, p *proc, cfg string, id int64) {
	t.Helper()
	body := `{"by":"tester","reason":"ticket 1","state_dir":"/elsewhere/state"}`
	resp, err := http.Post(fmt.Sprintf("http://%s/files/%d/abandon", p.addr, id), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b := new(bytes.Buffer)
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b.String(), "not /elsewhere/state") {
		t.Errorf("abandon for another state_dir = %d %s", resp.StatusCode, b)
	}
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(filepath.Dir(cfg), "other-port.yaml")
	writeFile(t, other, bytes.ReplaceAll(src, []byte(p.addr), []byte(fmt.Sprintf("127.0.0.1:%d", freePort(t)))))
	r := exchanged(t, nil, "files", "abandon", "--config", other, "--reason", "ticket 1", strconv.FormatInt(id, 10))
	if r.code != exitFailed || !strings.Contains(r.stderr, "state_dir is locked by another exchanged command (once, purge, files?)") {
		t.Errorf("abandon with nobody on the endpoint: %+v", r)
	}
	if rows := stuckRows(t, other); len(rows) != 2 {
		t.Errorf("list with nobody on the endpoint = %+v, want the 2 stuck files read-only", rows)
	}
}
