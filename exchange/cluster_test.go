package exchange

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/pgtest"
	"github.com/exchanged/exchanged/ledger"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// clusterNodes returns two nodes, "a" and "b", of a cluster on one fresh
// PostgreSQL ledger, each with a state_dir (staging) of its own, running
// job "j" from one shared local source to one shared destination; and
// the source and destination roots.
func clusterNodes(t *testing.T, lease time.Duration) (a, b *rig, in, out string, dsn string) {
	t.Helper()
	in, out = t.TempDir(), t.TempDir()
	mkdirs(t, in, "outbox")
	mkdirs(t, out, "inbox")
	dsn = pgtest.DSN(t)
	key := make([]byte, 32)
	node := func(name string) *rig {
		cfg := &config.Config{Version: 1, StateDir: t.TempDir(),
			Cluster: &config.Cluster{Node: name, Lease: config.Duration(lease)},
			Partners: map[string]*config.Partner{
				"creditor": localPartner("creditor", in),
				"cases":    localPartner("internal", out),
			},
			Jobs: map[string]*config.Job{"j": {Source: config.Source{Partner: "creditor", Dir: "/outbox"},
				Destinations: []*config.Destination{{Partner: "cases", Dir: "/inbox"}}}}}
		for n, p := range cfg.Partners {
			p.Name = n
		}
		for n, j := range cfg.Jobs {
			j.Name = n
		}
		l, err := ledger.OpenPostgresCluster(dsn, key)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		g := rigOn(t, cfg, l)
		g.runner.Retry.Attempts = 1
		return g
	}
	return node("a"), node("b"), in, out, dsn
}

// failDestination makes g's destination "cases" refuse every create while
// *on is set.
func failDestination(g *rig, on *bool) {
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "cases" && *on {
			return failCreate{ep}
		}
		return ep
	}
}

// wantDelivered checks that out's inbox holds exactly want, byte for byte,
// and in's outbox nothing.
func wantDelivered(t *testing.T, in, out string, want map[string][]byte) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(out, "inbox"))
	if len(ents) != len(want) {
		t.Fatalf("inbox holds %d entries, want %d", len(ents), len(want))
	}
	for n, b := range want {
		got, err := os.ReadFile(filepath.Join(out, "inbox", n))
		if err != nil || string(got) != string(b) {
			t.Fatalf("%s delivered: %d bytes, %v", n, len(got), err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(in, "outbox")); len(ents) != 0 {
		t.Fatalf("source not cleaned: %d entries", len(ents))
	}
}

// A job runs on the node that holds its lease: another node's run is
// skipped (ErrHeldElsewhere, "run held elsewhere", no run recorded); once
// free, a run delivers the file, cleans the source after the delivery and
// releases the lease.
func TestClusterJobLease(t *testing.T) {
	a, b, in, out, _ := clusterNodes(t, 3*time.Second)
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	ctx := context.Background()
	tok, ok, err := a.ledger.TakeLease(ctx, "job:j", "a", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := b.run("j"); !errors.Is(err, ErrHeldElsewhere) {
		t.Fatalf("run beside a held lease: %v", err)
	}
	if n := b.logs.FilterMessage("run held elsewhere").FilterField(zap.String("node", "b")).Len(); n != 1 {
		t.Fatalf("%d \"run held elsewhere\" events", n)
	}
	if runs, err := b.ledger.Runs("j", 10); err != nil || len(runs) != 0 {
		t.Fatalf("runs recorded: %v %v", runs, err)
	}
	if err := a.ledger.ReleaseLease(ctx, "job:j", tok); err != nil {
		t.Fatal(err)
	}
	if res, err := b.run("j"); err != nil || res.Files != 1 || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	wantDelivered(t, in, out, map[string][]byte{"a.csv": claims})
	b.stagingEmpty()
	if _, err := b.ledger.LeaseHolder(ctx, "job:j"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("lease after the run: %v, want released", err)
	}
	b.checkLogs("J. de Vries")
}

// A file staged on a node that could not deliver it is finished by
// another node, which has no copy: it stages it again from the source
// (kept until delivery), the same bytes, and delivers it once. The first
// node's copy goes at its next run.
func TestClusterTakeoverRestages(t *testing.T) {
	a, b, in, out, _ := clusterNodes(t, 3*time.Second)
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	down := true
	failDestination(a, &down)
	if _, err := a.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("a's run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(in, "outbox", "a.csv")); err != nil {
		t.Fatalf("a cluster cleaned the source before delivery: %v", err)
	}
	ids, _ := a.runner.Staging().IDs()
	if len(ids) != 1 {
		t.Fatalf("a's staging: %v", ids)
	}
	if node, err := b.ledger.StagedOn(ids[0]); err != nil || node != "a" {
		t.Fatalf("staged on %q, %v; want a", node, err)
	}
	if res, err := b.run("j"); err != nil || res.Files != 1 || res.Delivered != 1 {
		t.Fatalf("b's run = %+v, %v", res, err)
	}
	if b.logs.FilterMessage("file staged again").Len() != 1 {
		t.Fatal("b did not stage the file again")
	}
	if node, err := b.ledger.StagedOn(ids[0]); err != nil || node != "b" {
		t.Fatalf("staged on %q, %v after the takeover; want b", node, err)
	}
	wantDelivered(t, in, out, map[string][]byte{"a.csv": claims})
	b.stagingEmpty()
	down = false
	if res, err := a.run("j"); err != nil || res.Files != 0 {
		t.Fatalf("a's next run = %+v, %v", res, err)
	}
	a.stagingEmpty()
	wantDelivered(t, in, out, map[string][]byte{"a.csv": claims})
}

// A source that, staged again on takeover, is not the file first staged
// (same size and mtime, other bytes) is not delivered: the file stays
// pending with a permanent, security-flagged failure.
func TestClusterRestageChanged(t *testing.T) {
	a, b, in, out, _ := clusterNodes(t, 3*time.Second)
	p := filepath.Join(in, "outbox", "a.csv")
	os.WriteFile(p, claims, 0o644)
	fi, _ := os.Stat(p)
	down := true
	failDestination(a, &down)
	if _, err := a.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("a's run: %v", err)
	}
	other := []byte(string(claims[:len(claims)-3]) + "99\n")
	os.WriteFile(p, other, 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	if _, err := b.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("b's run: %v", err)
	}
	e := b.logs.FilterMessage("file failed").FilterField(zap.Bool("security", true)).FilterField(zap.Bool("permanent", true))
	if e.Len() != 1 {
		t.Fatalf("%d security-flagged permanent failures", e.Len())
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Fatalf("delivered: %d", len(ents))
	}
	if pend, err := b.ledger.Pending("j"); err != nil || len(pend) != 1 || pend[0].State != ledger.StateTransformed {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	b.stagingEmpty()
	b.checkLogs("J. de Vries")
}

// blockCreate holds every create until its context ends, telling started
// first.
type blockCreate struct {
	endpoint.Endpoint
	started chan<- struct{}
}

func (e blockCreate) Create(ctx context.Context, p string) (endpoint.WriteFile, error) {
	select {
	case e.started <- struct{}{}:
	default:
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(20 * time.Second):
		return nil, errors.New("test: the lease loss did not stop the delivery")
	}
}

// runBlocked starts a run of job j on g whose creates at destination
// "cases" block until the run's context ends, and returns once the first
// is under way; the run's error comes on the channel.
func runBlocked(t *testing.T, g *rig) <-chan error {
	t.Helper()
	started := make(chan struct{}, 1)
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "cases" {
			return blockCreate{ep, started}
		}
		return ep
	}
	done := make(chan error, 1)
	go func() { _, err := g.run("j"); done <- err }()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the delivery did not start")
	}
	return done
}

// A node whose lease is taken over mid-run (it expired in the database)
// stops at once: its run's context ends, it logs "lease lost", the run is
// interrupted, and no write of it lands after; the new holder delivers
// the file once.
func TestClusterLeaseLost(t *testing.T) {
	a, b, in, out, dsn := clusterNodes(t, 900*time.Millisecond)
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	var lost int
	a.runner.Observe = func(e Event) {
		if e.Step == "lease" && e.Outcome == "lost" {
			lost++
		}
	}
	done := runBlocked(t, a)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE leases SET expires_at = clock_timestamp() - interval '1 second' WHERE name = 'job:j'`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, ok, err := b.ledger.TakeLease(ctx, "job:j", "b", time.Minute)
	if err != nil || !ok {
		t.Fatalf("b takes the expired lease: %v %v", ok, err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("a's run: %v, want ErrLeaseLost", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a's run went on after its lease was taken over")
	}
	if a.logs.FilterMessage("lease lost").FilterField(zap.String("node", "a")).Len() != 1 || lost != 1 {
		t.Fatalf("lease lost: %d events, %d observed", a.logs.FilterMessage("lease lost").Len(), lost)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Fatalf("a delivered after losing its lease: %d", len(ents))
	}
	// a's end was a write no longer under the lease: refused.
	if runs, err := b.ledger.Runs("j", 10); err != nil || len(runs) != 1 || !runs[0].FinishedAt.IsZero() {
		t.Fatalf("a's run after its lease was lost: %+v %v, want one unfinished", runs, err)
	}
	if err := b.ledger.ReleaseLease(ctx, "job:j", tok); err != nil {
		t.Fatal(err)
	}
	if res, err := b.run("j"); err != nil || res.Files != 1 || res.Delivered != 1 {
		t.Fatalf("b's run = %+v, %v", res, err)
	}
	wantDelivered(t, in, out, map[string][]byte{"a.csv": claims})
	b.stagingEmpty()
	runs, err := b.ledger.Runs("j", 10)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	outcomes := map[string]int{}
	for _, r := range runs {
		outcomes[r.Outcome]++
	}
	if outcomes[OutcomeInterrupted] != 1 || outcomes["ok"] != 1 {
		t.Fatalf("run outcomes %v, want a's interrupted and b's ok", outcomes)
	}
	// a's run (the older) was closed by b's, holding the lease.
	if a := runs[1]; a.Outcome != OutcomeInterrupted || a.Error != ledger.EndedUnrecorded || a.FinishedAt.IsZero() {
		t.Fatalf("a's run = %+v, want closed as interrupted by b's run", a)
	}
}

// A partner's max_conns holds across the cluster: each connection holds
// one of its slots, lease conn:<partner>:<slot>, until it closes; a node
// finds none free while the others' are held and waits (bounded) until
// one is given back; a slot whose lease is lost says so (its channel).
func TestClusterConnSlots(t *testing.T) {
	a, b, _, _, _ := clusterNodes(t, 3*time.Second)
	s := &config.SFTP{MaxConns: 2, Timeout: config.Duration(400 * time.Millisecond)}
	ctx := context.Background()
	slotA, slotB := a.runner.connSlot("acme", s), b.runner.connSlot("acme", s)
	rel0, lost0, err := slotA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rel1, _, err := slotA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if h, err := b.ledger.LeaseHolder(ctx, "conn:acme:"+string(rune('0'+i))); err != nil || h.Node != "a" {
			t.Fatalf("slot %d: %+v %v", i, h, err)
		}
	}
	start := time.Now()
	if _, _, err := slotB(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third connection in the cluster: %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 5*time.Second {
		t.Fatalf("waited %s for a slot, want the connect timeout", d)
	}
	got := make(chan error, 1)
	go func() {
		rel, _, err := slotB(ctx)
		if err == nil {
			defer rel()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	rel1()
	if err := <-got; err != nil {
		t.Fatalf("a slot given back was not taken: %v", err)
	}
	select {
	case <-lost0:
		t.Fatal("a held slot reported lost")
	default:
	}
	rel0()
	select {
	case <-lost0:
	case <-time.After(5 * time.Second):
		t.Fatal("a released slot's channel stayed open (its connection's watcher would leak)")
	}
}

// A node cut off from the database cannot renew its lease: within the
// lease minus a third of it from its last renewal, it stops the run at
// once ("lease lost", not renewed in time) and makes no side effect; once
// the database is back, another node (or it) takes the lease over and
// delivers the file once.
func TestClusterDatabaseLost(t *testing.T) {
	a, b, in, out, dsn := clusterNodes(t, 900*time.Millisecond)
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	done := runBlocked(t, a)
	// From another database of the server: the ledger's is closed to
	// new connections, and its open ones cut.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	quoted := pgx.Identifier{name}.Sanitize()
	cutAt := time.Now()
	for _, q := range []string{`ALTER DATABASE ` + quoted + ` ALLOW_CONNECTIONS false`,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '` + strings.ReplaceAll(name, "'", "''") + `'`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("a's run: %v, want ErrLeaseLost", err)
		}
		if d := time.Since(cutAt); d > 900*time.Millisecond {
			t.Fatalf("a stopped %s after the database went, later than its lease", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a's run went on without its database")
	}
	if a.logs.FilterMessage("lease lost").FilterField(zap.String("reason", "not renewed in time")).Len() != 1 {
		t.Fatalf("lease lost events: %v", a.logs.FilterMessage("lease lost").All())
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Fatalf("a delivered without its lease: %d", len(ents))
	}
	if _, err := db.Exec(`ALTER DATABASE ` + quoted + ` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	var res Result
	// b's run waits for a's lease to expire in the database; its first
	// call on a connection that was cut fails, the next connects again.
	for range 50 {
		if res, err = b.run("j"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || res.Files != 1 || res.Delivered != 1 {
		t.Fatalf("b's run = %+v, %v", res, err)
	}
	wantDelivered(t, in, out, map[string][]byte{"a.csv": claims})
}

// With a transform in a cluster: a file rejected whole has its source
// cleaned when it is over (the source is kept until then); a file whose
// delivery began on a node that died with its outputs is finished by a
// node that makes them again only when they come out byte for byte as the
// delivery recorded (a transform's do); made under another config (here
// a semicolon for a delimiter) they differ, and the file stays pending, naming what
// ops can do, with nothing sent and nothing left in that node's staging.
func TestClusterTransformTakeover(t *testing.T) {
	for _, tc := range []struct {
		name string
		same bool
	}{{"same", true}, {"differs", false}} {
		t.Run(tc.name, func(t *testing.T) { testClusterTransformTakeover(t, tc.same) })
	}
}

func testClusterTransformTakeover(t *testing.T, same bool) {
	a, b, in, out, _ := clusterNodes(t, 3*time.Second)
	for _, g := range []*rig{a, b} {
		j := g.cfg.Jobs["j"]
		j.Source.Match = "*.csv"
		j.Transform = &config.Transform{Layout: "acme-claims", Profile: "internal"}
		g.cfg.Layouts = acmeClaimsLayout()
		if g == b && !same {
			j.Destinations[0].Format = &config.Format{Delimiter: ";"}
		}
		if err := CheckConfig(g.cfg); err != nil {
			t.Fatal(err)
		}
	}
	good := excelClaims(t)
	os.WriteFile(filepath.Join(in, "outbox", "claims_1.csv"), good, 0o644)
	os.WriteFile(filepath.Join(in, "outbox", "claims_empty.csv"), []byte("Factuur;Klantnummer;Naam;Bedrag\r\n;;;\r\n"), 0o644)
	down := true
	failDestination(a, &down)
	if _, err := a.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("a's run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(in, "outbox", "claims_empty.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the source of a file rejected whole was not cleaned: %v", err)
	}
	if _, err := os.Stat(filepath.Join(in, "outbox", "claims_1.csv")); err != nil {
		t.Fatalf("the source of a file not delivered is gone: %v", err)
	}
	files, err := b.ledger.Pending("j")
	if err != nil || len(files) != 1 || files[0].State != ledger.StateTransformed {
		t.Fatalf("pending files: %+v %v", files, err)
	}
	dels, err := b.ledger.Deliveries(files[0].ID)
	if err != nil || len(dels) != 1 || dels[0].State != ledger.DeliveryStarted {
		t.Fatalf("a's deliveries: %+v %v", dels, err)
	}
	res, err := b.run("j")
	if !same {
		if !errors.Is(err, ErrFilesFailed) {
			t.Fatalf("b's run: %v", err)
		}
		f := b.logs.FilterMessage("file failed").FilterField(zap.Bool("permanent", true)).All()
		if len(f) != 1 || !strings.Contains(f[0].ContextMap()["error"].(string), "exchanged files abandon") ||
			!strings.Contains(f[0].ContextMap()["error"].(string), dels[0].SHA256) {
			t.Fatalf("b's failures: %v", f)
		}
		if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
			t.Fatalf("b delivered: %d", len(ents))
		}
		b.stagingEmpty()
		down = false
		if res, err := a.run("j"); err != nil || res.Delivered != 1 {
			t.Fatalf("a's run = %+v, %v", res, err)
		}
	} else {
		if err != nil || res.Delivered != 1 {
			t.Fatalf("b's run = %+v, %v", res, err)
		}
		if b.logs.FilterMessage("outputs made again").Len() != 1 {
			t.Fatal("b did not log the outputs made again")
		}
		b.stagingEmpty()
		if res, err := a.run("j"); err != nil || res.Delivered != 0 {
			t.Fatalf("a's run after b finished = %+v, %v", res, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(out, "inbox"))
	if len(ents) != 1 {
		t.Fatalf("inbox: %d entries, want 1", len(ents))
	}
	got, err := os.ReadFile(filepath.Join(out, "inbox", ents[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != dels[0].SHA256 {
		t.Fatalf("delivered bytes are not those the delivery began with")
	}
	if after, _ := b.ledger.Deliveries(files[0].ID); len(after) != 1 || after[0].State != ledger.DeliveryDelivered {
		t.Fatalf("deliveries after: %+v", after)
	}
	if ents, _ := os.ReadDir(filepath.Join(in, "outbox")); len(ents) != 0 {
		t.Fatalf("source not cleaned: %d", len(ents))
	}
	a.stagingEmpty()
	a.checkLogs("J. de Vries")
	b.checkLogs("J. de Vries")
}

// A file delivered to every destination but whose reject report's
// delivery began on a node that holds the report is finished by another
// node only with the report made again as its delivery recorded it: the
// report arrives once, with those bytes, and the source goes after it.
func TestClusterReportNotLost(t *testing.T) {
	a, b, in, out, _ := clusterNodes(t, 3*time.Second)
	mkdirs(t, in, "rejects")
	for _, g := range []*rig{a, b} {
		j := g.cfg.Jobs["j"]
		j.Source.Match = "*.csv"
		j.Transform = &config.Transform{Layout: "acme-claims", Profile: "internal"}
		j.Rejects = &config.Destination{Partner: "creditor", Dir: "/rejects"}
		g.cfg.Layouts = acmeClaimsLayout()
		if err := CheckConfig(g.cfg); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(in, "outbox", "claims_1.csv"),
		[]byte("Factuur;Klantnummer;Naam;Bedrag\r\nF-1;K-1;Jan Smit 111222333;10,00\r\nF-2;K-2;Els Vos;20,00\r\n"), 0o644)
	down := true
	a.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "creditor" && down {
			return failCreate{ep}
		}
		return ep
	}
	if _, err := a.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("a's run: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 1 {
		t.Fatalf("inbox: %d entries, want the output delivered", len(ents))
	}
	pending, err := b.ledger.Pending("j")
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending: %+v %v", pending, err)
	}
	var began *ledger.Delivery
	dels, _ := b.ledger.Deliveries(pending[0].ID)
	for i := range dels {
		if dels[i].Index == rejectsIndex && dels[i].State == ledger.DeliveryStarted {
			began = &dels[i]
		}
	}
	if began == nil {
		t.Fatalf("the report's delivery did not begin on a: %+v", dels)
	}
	if res, err := b.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("b's run = %+v, %v", res, err)
	}
	report, _ := os.ReadFile(filepath.Join(in, "rejects", "claims_1.rejects.csv"))
	if sum := sha256.Sum256(report); hex.EncodeToString(sum[:]) != began.SHA256 || !strings.Contains(string(report), "possible_bsn") {
		t.Fatalf("reject report = %q, not the bytes its delivery began with", report)
	}
	if ents, _ := os.ReadDir(filepath.Join(in, "rejects")); len(ents) != 1 {
		t.Fatalf("rejects: %d entries, want 1", len(ents))
	}
	b.stagingEmpty()
	down = false
	if res, err := a.run("j"); err != nil || res.Delivered != 0 {
		t.Fatalf("a's run after b finished = %+v, %v", res, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(in, "outbox")); len(ents) != 0 {
		t.Fatalf("source not cleaned: %d", len(ents))
	}
	a.stagingEmpty()
}
