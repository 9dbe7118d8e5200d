package exchange

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/local"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/ledger"
)

// A delivery resumed after its rename was cut between
// the hard link and the removal of the temp name (a crash, or a node that
// lost its lease or connection there) finds its own file under the final
// name. On a partner that refuses reading it, linkedBefore tells it by
// SameFile, which the SFTP endpoint offers; in a cluster every endpoint
// is wrapped in leaseEndpoint, which must not hide that: else the
// delivery waits as for another file, and once the partner took its own
// file the rename makes the second copy.
func TestClusterLeaseEndpointKeepsSameFile(t *testing.T) {
	srv := startInproc(t, sftpd.Options{Deny: []string{"read"}})
	mkdirs(t, srv.root, "in")
	tmp, final := filepath.Join(srv.root, "in", ".exchanged-1-0-aa.part"), filepath.Join(srv.root, "in", "a.csv")
	if err := os.WriteFile(tmp, claims, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(tmp, final); err != nil { // linked, temp name not yet removed
		t.Fatal(err)
	}
	sum := sha256.Sum256(claims)
	s := sftp.New("cases", srv.cfg, zap.NewNop(), nil)
	defer s.Close()
	for _, tc := range []struct {
		name string
		ep   endpoint.Endpoint
	}{
		{"alone", s},
		{"cluster", leaseEndpoint{Endpoint: s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := &delivery{ep: tc.ep, l: zap.NewNop(),
				d: &ledger.Delivery{Size: int64(len(claims)), SHA256: hex.EncodeToString(sum[:])}}
			ours, err := x.linkedBefore(context.Background(), "/in/.exchanged-1-0-aa.part", "/in/a.csv")
			if err != nil || !ours {
				t.Fatalf("linkedBefore = %v, %v: the delivery's own linked file taken for another's (it waits, then is delivered twice)", ours, err)
			}
		})
	}
}

// Every optional method an endpoint offers beside endpoint.Endpoint (the
// exchange package asks for them by type assertion) passes through the
// cluster's leaseEndpoint, with its signature: a method added to an
// endpoint and not to the wrapper fails here. SetSlot is set when the
// endpoint is made, before it is wrapped.
func TestClusterLeaseEndpointKeepsOptionalMethods(t *testing.T) {
	base := reflect.TypeFor[endpoint.Endpoint]()
	wrapper := reflect.TypeFor[leaseEndpoint]()
	construction := map[string]bool{"SetSlot": true}
	seen := 0
	for _, impl := range []reflect.Type{reflect.TypeFor[*sftp.SFTP](), reflect.TypeFor[*local.Local]()} {
		for i := range impl.NumMethod() {
			m := impl.Method(i)
			if _, ok := base.MethodByName(m.Name); ok || construction[m.Name] {
				continue
			}
			seen++
			w, ok := wrapper.MethodByName(m.Name)
			if !ok {
				t.Errorf("%s.%s is not passed through by leaseEndpoint: a cluster node does without it", impl, m.Name)
				continue
			}
			// Without the receiver, the signatures must be one.
			if got, want := w.Type.String(), m.Type.String(); strings.Replace(got, wrapper.String(), "", 1) != strings.Replace(want, impl.String(), "", 1) {
				t.Errorf("leaseEndpoint.%s is %s, %s's is %s", m.Name, got, impl, want)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no optional method found: SameFile of the SFTP endpoint at least")
	}
	// Over an endpoint without it, the wrapper's says so, and a resumed
	// delivery takes the final name for another file's, as alone.
	if _, err := (leaseEndpoint{Endpoint: &local.Local{}}).SameFile(context.Background(), "/a", "/b"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SameFile over a local endpoint: %v, want errors.ErrUnsupported", err)
	}
}

// removeHook runs hook after each successful Remove.
type removeHook struct {
	endpoint.Endpoint
	hook func(p string)
}

func (e removeHook) Remove(ctx context.Context, p string) error {
	err := e.Endpoint.Remove(ctx, p)
	if err == nil {
		e.hook(p)
	}
	return err
}

// In a cluster, a file rejected whole has its source cleaned in
// finishRejection after its staging (with the rejected mark) is removed
// and before it is recorded rejected. A node that loses its lease (or
// dies) between the two leaves it with its source gone and nothing
// staged anywhere: the ledger's mark (MarkRejecting, before the clean)
// tells the next node that the file is over, and it records it rejected,
// not "its source is gone" run after run. A file not rejected whose
// source vanished stays pending, loudly, as before.
func TestClusterRejectedFileInterruptedAfterClean(t *testing.T) {
	a, b, in, out, dsn := clusterNodes(t, 3*time.Second)
	transformNodes(t, a, b)
	os.WriteFile(filepath.Join(in, "outbox", "claims_empty.csv"), []byte("Factuur;Klantnummer;Naam;Bedrag\r\n;;;\r\n"), 0o644)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// a's lease ends just after the source is cleaned (a lost database,
	// a pause, a kill: the next write is refused).
	a.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner != "creditor" {
			return ep
		}
		return removeHook{ep, func(string) { expireLease(t, db) }}
	}
	if _, err := a.run("j"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's run: %v, want ErrLeaseLost", err)
	}
	if _, err := os.Stat(filepath.Join(in, "outbox", "claims_empty.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("source: %v, want cleaned by a", err)
	}
	f, err := a.ledger.File(1)
	if err != nil || f.State != ledger.StateCleaned {
		t.Fatalf("file after a's run: %+v %v; want it left cleaned, its record fenced", f, err)
	}
	if _, err := b.run("j"); err != nil {
		t.Fatalf("b's run: %v", err)
	}
	if f, err := b.ledger.File(1); err != nil || f.State != ledger.StateRejected {
		t.Fatalf("file after b's run: %+v %v; want rejected", f, err)
	}
	if n := b.logs.FilterMessage("file failed").Len(); n != 0 {
		t.Errorf("b logged %d failures, want none", n)
	}
	if n := b.logs.FilterMessage("rejection resumed").Len(); n != 1 {
		t.Errorf("b logged %d resumed rejections, want 1", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Errorf("a rejected file delivered: %d entries", len(ents))
	}
	b.stagingEmpty()
	a.runner.wrapEndpoint = nil
	if _, err := a.run("j"); err != nil { // sweeps its staging of a file over
		t.Fatalf("a's second run: %v", err)
	}
	a.stagingEmpty()

	// Not rejected: a's lease ends once the file is staged; its source
	// then vanishes. b cannot stage it again, and says so.
	os.WriteFile(filepath.Join(in, "outbox", "b.csv"), claims, 0o644)
	a.runner.Observe = func(e Event) {
		if e.Step == "stage" && e.Outcome == "ok" {
			expireLease(t, db)
		}
	}
	if _, err := a.run("j"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's third run: %v, want ErrLeaseLost", err)
	}
	os.Remove(filepath.Join(in, "outbox", "b.csv"))
	if _, err := b.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("b's run: %v, want the file failed", err)
	}
	pend, err := b.ledger.Pending("j")
	if err != nil || len(pend) != 1 || pend[0].Name != "b.csv" || !strings.Contains(pend[0].Error, "its source is gone") {
		t.Fatalf("pending: %+v %v; want b.csv pending, its source gone", pend, err)
	}
}

// expireLease ends the lease of job "j" in db now, as a node that lost
// its database or paused finds it.
func expireLease(t *testing.T, db *sql.DB) {
	if _, err := db.Exec(`UPDATE leases SET expires_at = clock_timestamp() - interval '1 second' WHERE name = 'job:j'`); err != nil {
		t.Error(err)
	}
}

// transformNodes gives job "j" of each node an acme-claims transform.
func transformNodes(t *testing.T, nodes ...*rig) {
	t.Helper()
	for _, g := range nodes {
		j := g.cfg.Jobs["j"]
		j.Source.Match = "*.csv"
		j.Transform = &config.Transform{Layout: "acme-claims", Profile: "internal"}
		g.cfg.Layouts = acmeClaimsLayout()
		if err := CheckConfig(g.cfg); err != nil {
			t.Fatal(err)
		}
	}
}

// A node keeps what it staged of a pending file, and once another node
// staged the file again (files.staged_on) that copy and its outputs are
// stale: node b encrypts the output (pgp:, never the same twice) and
// loses its lease before any delivery begins; node a, with no copy,
// stages it again, encrypts its own output and begins the delivery,
// recording that output's sha256. When b runs the job again it drops
// its stale staging and, the deliveries having begun elsewhere with an
// output it cannot make again, sends nothing (the file stays pending for
// ops); a, once the destination is back, delivers its own output: the
// bytes the ledger recorded, with a checksum sidecar that matches them.
func TestClusterStaleOutputsNotResumed(t *testing.T) {
	k := newPGPKeys(t, "never")
	a, b, in, out, dsn := clusterNodes(t, 3*time.Second)
	for _, g := range []*rig{a, b} {
		d := g.cfg.Jobs["j"].Destinations[0]
		d.PGP, d.Checksum = &config.PGPOut{EncryptTo: k.partnerPub, Extension: ".gpg"}, true
		if err := CheckConfig(g.cfg); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// b's lease ends once the file is staged: its output is made, and the
	// record of it (the next write) refused.
	b.runner.Observe = func(e Event) {
		if e.Step == "stage" && e.Outcome == "ok" {
			expireLease(t, db)
		}
	}
	if _, err := b.run("j"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("b's first run: %v, want ErrLeaseLost", err)
	}
	b.runner.Observe = nil
	pend, err := a.ledger.Pending("j")
	if err != nil || len(pend) != 1 {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	id := pend[0].ID
	if held := b.runner.Staging().Held(id, "a.csv"); len(held) < 2 {
		t.Fatalf("b's staging holds %v, want the copy and b's output", held)
	}
	down := true
	failDestination(a, &down)
	if _, err := a.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("a's run: %v", err)
	}
	dels, err := a.ledger.Deliveries(id)
	if err != nil || len(dels) != 1 {
		t.Fatalf("deliveries after a's run: %+v %v", dels, err)
	}
	if node, err := a.ledger.StagedOn(id); err != nil || node != "a" {
		t.Fatalf("staged_on = %q, %v; want a", node, err)
	}
	if _, err := b.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("b's second run: %v, want the file failed", err)
	}
	if _, err := os.Stat(filepath.Join(out, "inbox", "a.csv.gpg")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("b delivered its stale output: %v", err)
	}
	// Its outputs go; its copy of the source, the recorded bytes, stays.
	if held := b.runner.Staging().Held(id, "a.csv"); len(held) != 1 || held[0] != fmt.Sprintf("%d.src", id) {
		t.Fatalf("b's stale staging kept: %v, want its verified source copy only", held)
	}
	if n := b.logs.FilterMessage("staging removed").FilterField(zap.String("outcome", "stale outputs: staged again on another node, the copy here holds the recorded sha256")).Len(); n != 1 {
		t.Errorf("%d stale staging removals logged by b, want 1", n)
	}
	if f, err := b.ledger.File(id); err != nil || !strings.Contains(f.Error, "its outputs are OpenPGP messages") {
		t.Fatalf("file after b's run: %+v %v; want pending for ops, its outputs not to be made again", f, err)
	}
	// a finishes it with its own output, the one its delivery recorded.
	down = false
	if _, err := a.run("j"); err != nil {
		t.Fatalf("a's second run: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(out, "inbox", "a.csv.gpg"))
	if err != nil {
		t.Fatal(err)
	}
	if side, _ := os.ReadFile(filepath.Join(out, "inbox", "a.csv.gpg.sha256")); string(side) != sum(got)+"  a.csv.gpg\n" {
		t.Errorf("checksum sidecar %q does not match the delivered file (%s)", side, sum(got))
	}
	after, _ := a.ledger.AllDeliveries(id)
	if len(after) != 1 || after[0].State != ledger.DeliveryDelivered || after[0].SHA256 != sum(got) || after[0].ID != dels[0].ID {
		t.Fatalf("deliveries %+v, want delivery %d delivered with the sha256 of the delivered file %s", after, dels[0].ID, sum(got))
	}
	if pend, err := a.ledger.Pending("j"); err != nil || len(pend) != 0 {
		t.Fatalf("pending at the end: %+v %v", pend, err)
	}
	a.stagingEmpty()
}

// Insurance beside staged_on: in a cluster, a delivery begun before is
// never resumed, bytes sent again, with a staged output other than the
// one it began with (its recorded sha256), whatever put it there.
func TestClusterResumeRefusesOtherOutput(t *testing.T) {
	a, _, in, out, _ := clusterNodes(t, 3*time.Second)
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	k := newPGPKeys(t, "never")
	d := a.cfg.Jobs["j"].Destinations[0]
	d.PGP = &config.PGPOut{EncryptTo: k.partnerPub, Extension: ".gpg"}
	down := true
	failDestination(a, &down)
	if _, err := a.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("a's run: %v", err)
	}
	pend, err := a.ledger.Pending("j")
	if err != nil || len(pend) != 1 {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	id := pend[0].ID
	st, err := a.runner.Staging().Create(id, OutputName(a.cfg, a.cfg.Jobs["j"], "a.csv", 0))
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("another output"))
	if _, _, err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	down = false
	if _, err := a.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("a's second run: %v, want the file failed", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Fatalf("inbox holds %d entries: another output than the delivery's was sent", len(ents))
	}
	if f, err := a.ledger.File(id); err != nil || !strings.Contains(f.Error, "began with an output of sha256") {
		t.Fatalf("file: %+v %v; want it pending, the output refused", f, err)
	}
}

// A run cut short by shutdown (its context cancelled, the lease not lost)
// gives the job's lease up, and says so to LeaseHeld: another node takes
// the job at once, not once the lease expired.
func TestClusterShutdownReleasesLease(t *testing.T) {
	a, b, in, _, _ := clusterNodes(t, time.Minute)
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	var held []bool
	a.runner.LeaseHeld = func(job string, h bool) { held = append(held, h) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.runner.Observe = func(e Event) {
		if e.Step == "stage" && e.Outcome == "ok" {
			cancel() // shutdown
		}
	}
	if _, err := a.runner.Run(ctx, "j"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's run: %v, want interrupted by shutdown", err)
	}
	if h, err := a.ledger.LeaseHolder(context.Background(), "job:j"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("lease after shutdown: %+v %v, want released", h, err)
	}
	if len(held) != 2 || !held[0] || held[1] {
		t.Fatalf("LeaseHeld told %v, want [true false]", held)
	}
	if _, err := b.run("j"); err != nil {
		t.Fatalf("b's run at once: %v", err)
	}
}
