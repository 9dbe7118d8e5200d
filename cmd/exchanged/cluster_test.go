package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/pgtest"
	"github.com/exchanged/exchanged/internal/sshdtest"
	"github.com/exchanged/exchanged/ledger"
)

// clusterJobs are the cluster test's two jobs, from outbox-a and
// outbox-b at acme (OpenSSH) to one inbox at dest (OpenSSH), scheduled
// rarely: the test runs them through the ops endpoint, often.
const clusterJobs = `
  claims-a:
    schedule: "@hourly"
    source: {partner: acme, dir: %[1]s/outbox-a, match: "a_*.csv", settle: 500ms, after: delete}
    destinations:
      - {partner: dest, dir: %[2]s}
  claims-b:
    schedule: "@hourly"
    source: {partner: acme, dir: %[1]s/outbox-b, match: "b_*.csv", settle: 500ms, after: delete}
    destinations:
      - {partner: dest, dir: %[2]s}
`

// clusterNode is one "exchanged run" of the cluster test: its config and
// ops address stay across kills and restarts.
type clusterNode struct {
	name, cfg, addr, state string
	p                      *proc
}

// TestClusterChaos: three "exchanged run" nodes of one cluster, on one
// PostgreSQL ledger, between a real OpenSSH source and destination, with
// 300 small files over two jobs run every few hundred milliseconds on
// every node. Nodes are SIGKILLed at random and restarted (8 times), and
// the database connections of the node at work are cut
// (pg_terminate_backend, 4 times). At the end every file was delivered
// exactly once (the destination holds exactly the expected names, byte
// for byte, no temporary or partial name), the ledger has every file
// done and one delivery each, staging is empty on every node and the
// sources are cleaned.
func TestClusterChaos(t *testing.T) {
	src, dst := sshdtest.Start(t), sshdtest.Start(t)
	dsn := pgtest.DSN(t)
	work := t.TempDir()
	inbox := filepath.Join(work, "inbox")
	os.MkdirAll(inbox, 0o755)
	files := map[string][]byte{}
	// feed drops the next n of the 300 files into the outboxes, each
	// written under a hidden name and renamed (as a careful creditor
	// does; settle covers the rest).
	feed := func(n int) {
		for range n {
			i := len(files)
			if i == 300 {
				return
			}
			job := "a"
			if i%2 == 1 {
				job = "b"
			}
			name := fmt.Sprintf("%s_%03d.csv", job, i)
			data := bytes.Repeat([]byte(fmt.Sprintf("K-%d;J. de Vries;%d,00\r\n", i, i)), 1+(i%7)*(i%7)*400) // up to 500 KB
			files[name] = data
			dir := filepath.Join(work, "outbox-"+job)
			writeFile(t, filepath.Join(dir, "."+name), data)
			if err := os.Rename(filepath.Join(dir, "."+name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	os.MkdirAll(filepath.Join(work, "outbox-a"), 0o755)
	os.MkdirAll(filepath.Join(work, "outbox-b"), 0o755)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	nodes := make([]*clusterNode, 3)
	for i := range nodes {
		n := &clusterNode{name: fmt.Sprintf("node-%d", i), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		dir := filepath.Join(work, n.name)
		n.state = filepath.Join(dir, "state")
		n.cfg = filepath.Join(dir, "exchanged.yaml")
		writeFile(t, n.cfg, []byte(fmt.Sprintf(`version: 1
state_dir: %s
log: {level: info, format: json}
http: {listen: "%s"}
runs: {retry: {attempts: 2, backoff: 100ms}}
cluster: {node: %s, lease: 3s}
partners:
  acme:
    role: creditor
    sftp: {host: 127.0.0.1, port: %d, user: %s, private_key: "file:%s", known_hosts: %s, max_conns: 2}
  dest:
    role: internal
    sftp: {host: 127.0.0.1, port: %d, user: %s, private_key: "file:%s", known_hosts: %s}
jobs:%s`, n.state, n.addr, n.name, src.Port, src.User, src.ClientKeyPath, src.KnownHostsPath,
			dst.Port, dst.User, dst.ClientKeyPath, dst.KnownHostsPath, fmt.Sprintf(clusterJobs, work, inbox))))
		// Each node's connections carry its name, for pg_terminate_backend.
		usePostgresLedger(t, n.cfg, dir, dsn+sep+"application_name="+n.name)
		n.p = startDaemon(t, n.cfg, n.addr)
		nodes[i] = n
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	trigger := func() {
		for _, n := range nodes {
			for _, job := range []string{"claims-a", "claims-b"} {
				n.p.request(http.MethodPost, "/jobs/"+job+"/run") // 202, or 409 while one runs there
			}
		}
	}
	delivered := func() int { ents, _ := os.ReadDir(inbox); return len(ents) }
	rng := rand.New(rand.NewPCG(14, 2))
	kills, cuts := 0, 0
	start := time.Now()
	// The chaos: a bounded number of rounds, each a kill or a cut, while
	// the nodes work.
	logs := map[string]string{} // of the processes killed, by node
	for round := 0; round < 12 && time.Since(start) < 100*time.Second; round++ {
		feed(25)
		for range 2 + rng.IntN(4) { // 0.5-1.25s of work: the batch is on its way
			trigger()
			time.Sleep(250 * time.Millisecond)
		}
		// The node at work: a holder of a job's lease, else any.
		var holder string
		db.QueryRow(`SELECT node FROM leases WHERE name LIKE 'job:%' AND expires_at > clock_timestamp() ORDER BY random() LIMIT 1`).Scan(&holder)
		if holder == "" {
			holder = nodes[rng.IntN(len(nodes))].name
		}
		if round%3 == 2 {
			var cut int
			if err := db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, holder).Scan(&cut); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: cut %d connections of %s; %d delivered", time.Since(start).Round(time.Millisecond), cut, holder, delivered())
			cuts++
			continue
		}
		n := nodes[rng.IntN(len(nodes))]
		if rng.IntN(3) > 0 {
			n = nodes[slices.IndexFunc(nodes, func(n *clusterNode) bool { return n.name == holder })]
		}
		n.p.cmd.Process.Kill()
		<-n.p.done
		logs[n.name] += n.p.log()
		t.Logf("%s: killed %s; %d delivered", time.Since(start).Round(time.Millisecond), n.name, delivered())
		kills++
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		n.p = startDaemon(t, n.cfg, n.addr)
	}
	if kills != 8 || cuts != 4 {
		t.Fatalf("chaos: %d kills, %d cuts in %s; want 8 and 4", kills, cuts, time.Since(start))
	}
	// Then work on until the ledger has every file done (bounded).
	deadline := time.Now().Add(90 * time.Second)
	var done, total, dels int
	for {
		trigger()
		time.Sleep(300 * time.Millisecond)
		db.QueryRow(`SELECT count(*) FILTER (WHERE state = 'done'), count(*) FROM files`).Scan(&done, &total)
		if done == len(files) || time.Now().After(deadline) {
			break
		}
	}
	// Two more rounds: every node sweeps its staging at each run.
	for range 2 {
		trigger()
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("%s: %d of %d files done", time.Since(start).Round(time.Millisecond), done, total)

	if done != len(files) || total != len(files) {
		var pending []string
		rows, _ := db.Query(`SELECT id, name, state, error FROM files WHERE state <> 'done' ORDER BY id LIMIT 10`)
		for rows != nil && rows.Next() {
			var id int64
			var name, state, msg string
			rows.Scan(&id, &name, &state, &msg)
			pending = append(pending, fmt.Sprintf("%d %s %s %s", id, name, state, msg))
		}
		t.Fatalf("ledger: %d of %d files done, want %d; pending: %v", done, total, len(files), pending)
	}
	if err := db.QueryRow(`SELECT count(*) FROM deliveries WHERE state = 'delivered' AND superseded_at IS NULL`).Scan(&dels); err != nil || dels != len(files) {
		t.Errorf("ledger: %d deliveries delivered (%v), want %d", dels, err, len(files))
	}
	want := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	if got := names(t, inbox); !slices.Equal(got, want) {
		t.Fatalf("the destination holds %d names, want the %d sent (no temporary, partial or second copy)", len(got), len(want))
	}
	for name, data := range files {
		if b, err := os.ReadFile(filepath.Join(inbox, name)); err != nil || !bytes.Equal(b, data) {
			t.Errorf("%s: delivered %d bytes (%v), want %d", name, len(b), err, len(data))
		}
	}
	for _, job := range []string{"a", "b"} {
		if left := names(t, filepath.Join(work, "outbox-"+job)); len(left) != 0 {
			t.Errorf("outbox-%s not cleaned: %d entries", job, len(left))
		}
	}
	for _, n := range nodes {
		if st := names(t, filepath.Join(n.state, "staging")); len(st) != 0 {
			t.Errorf("%s: staging holds %v", n.name, st)
		}
	}
	for _, n := range nodes {
		m := n.p.metrics()
		for _, job := range []string{"claims-a", "claims-b"} {
			held, ok := m[`exchanged_job_lease{job="`+job+`",node="`+n.name+`"}`]
			if _, lost := m[`exchanged_lease_lost_total{job="`+job+`"}`]; !ok || !lost || (held != 0 && held != 1) {
				t.Errorf("%s: job %s: exchanged_job_lease %v (%v), exchanged_lease_lost_total present %v", n.name, job, held, ok, lost)
			}
			// Every node knows when the job last succeeded, whichever ran it.
			if last := m[`exchanged_last_success_timestamp_seconds{job="`+job+`"}`]; last < float64(start.Unix()) {
				t.Errorf("%s: job %s: last success %v, before the test began", n.name, job, last)
			}
		}
	}
	all := ""
	for _, n := range nodes {
		all += logs[n.name] + n.p.log()
	}
	if strings.Contains(all, "J. de Vries") {
		t.Error("a file's contents are in a log")
	}
	t.Logf("%d kills, %d cuts; %d \"lease lost\", %d \"file staged again\", %d \"run held elsewhere\" events; %s",
		kills, cuts, strings.Count(all, `"msg":"lease lost"`), strings.Count(all, `"msg":"file staged again"`),
		strings.Count(all, `"msg":"run held elsewhere"`), time.Since(start).Round(time.Millisecond))
}

// "exchanged files retry" on a cluster node's config takes the job's
// lease: refused while a node runs the job, done once it is free.
func TestClusterFileActionLease(t *testing.T) {
	dsn := pgtest.DSN(t)
	work := t.TempDir()
	cfg, _ := localConfig(t, work, `  claims-in:
    schedule: "@yearly"
    source: {partner: acme, dir: /outbox, match: "claims_*.csv", done_marker: ".done"}
    destinations:
      - {partner: cases, dir: /missing}
`)
	usePostgresLedger(t, cfg, work, dsn)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("cluster: {node: ops-1, lease: 3s}\n")
	f.Close()
	writeFile(t, filepath.Join(work, "acme", "outbox", "claims_1.csv"), []byte("K-1;J. de Vries;1,00\r\n"))
	writeFile(t, filepath.Join(work, "acme", "outbox", "claims_1.csv.done"), nil)
	if r := exchanged(t, nil, "once", "--config", cfg, "claims-in"); r.code == 0 {
		t.Fatalf("once into a missing directory: %+v", r)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int64
	if err := db.QueryRow(`SELECT id FROM files WHERE state <> 'done'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO leases (name, node, token, expires_at) VALUES ('job:claims-in', 'node-9', nextval('lease_tokens'), clock_timestamp() + interval '1 minute')`); err != nil {
		t.Fatal(err)
	}
	r := exchanged(t, nil, "files", "retry", "--config", cfg, "--by", "tester", fmt.Sprint(id))
	if r.code == 0 || !strings.Contains(r.stderr, "is running on a node of the cluster") {
		t.Fatalf("retry while node-9 holds the job: %+v", r)
	}
	var attempts int
	if err := db.QueryRow(`SELECT attempts FROM files WHERE id = $1`, id).Scan(&attempts); err != nil || attempts == 0 {
		t.Fatalf("the refused retry cleared the failures: attempts %d, %v", attempts, err)
	}
	if _, err := db.Exec(`DELETE FROM leases`); err != nil {
		t.Fatal(err)
	}
	if r := exchanged(t, nil, "files", "retry", "--config", cfg, "--by", "tester", fmt.Sprint(id)); r.code != 0 {
		t.Fatalf("retry once the job is free: %+v", r)
	}
	if err := db.QueryRow(`SELECT attempts FROM files WHERE id = $1`, id).Scan(&attempts); err != nil || attempts != 0 {
		t.Fatalf("after the retry: attempts %d, %v", attempts, err)
	}
}

// In a cluster the daily purge runs on one node a day: the first node
// takes lease "purge" and keeps it; another is told it is held elsewhere.
func TestClusterPurgeOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	var purges []bool
	for _, node := range []string{"vm-1", "vm-2", "vm-1"} {
		cfg := &config.Config{Cluster: &config.Cluster{Node: node, Lease: config.Duration(3 * time.Second)}}
		l, err := ledger.OpenPostgresCluster(dsn, bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zap.InfoLevel)
		d := &daemon{ledger: l, log: zap.New(core)}
		purges = append(purges, d.purgeHere(cfg))
		if !purges[len(purges)-1] && logs.FilterMessage("purge held elsewhere").FilterField(zap.String("node", node)).Len() != 1 {
			t.Errorf("%s: no \"purge held elsewhere\" event", node)
		}
		l.Close()
	}
	if fmt.Sprint(purges) != "[true false false]" {
		t.Fatalf("purges by vm-1, vm-2, vm-1 again: %v, want only the first", purges)
	}
	alone := &daemon{log: zap.NewNop()}
	if !alone.purgeHere(&config.Config{}) {
		t.Fatal("a daemon alone did not purge")
	}
}
