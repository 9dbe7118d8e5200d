package exchange

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/text/encoding/charmap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
)

// excelClaims is a creditor's export straight from Dutch Excel:
// windows-1252, ';', decimal comma, dd-mm-yyyy dates. Line 3 has a bad
// IBAN and is rejected; the others go on.
func excelClaims(t *testing.T) []byte {
	t.Helper()
	s := "Dossier;Factuur;Klantnummer;Naam;Postcode;Plaats;Geboortedatum;E-mail;IBAN;Bedrag\r\n" +
		"D-1;F-100;K-1;José de Vries;1234ab;Utrecht;01-02-1980;jose@example.nl;NL91ABNA0417164300;1.234,56\r\n" +
		"D-2;F-101;K-2;Piet Bakker;2345 CD;Zwolle;03-04-1975;piet@example.nl;NL00BANK0000000000;89,95\r\n" +
		"D-3;F-102;K-3;Anna Jansen;3456EF;Gouda;05-06-1990;anna@example.nl;NL91ABNA0417164300;412,00\r\n"
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func transformRig(t *testing.T) (*rig, string, string, string) {
	t.Helper()
	acme, cases, gdw := t.TempDir(), t.TempDir(), t.TempDir()
	mkdirs(t, acme, "outbox", "rejects")
	mkdirs(t, cases, "inbox")
	mkdirs(t, gdw, "in")
	g := newRig(t, map[string]*config.Partner{
		"acme":  localPartner("creditor", acme),
		"cases": localPartner("internal", cases),
		"gdw":   localPartner("bailiff", gdw),
	}, map[string]*config.Job{"claims-in": {
		Source:    config.Source{Partner: "acme", Dir: "/outbox", Match: "*.csv", Settle: settle(1)},
		Transform: &config.Transform{Layout: "acme-claims", Profile: "internal"},
		Rejects:   &config.Destination{Partner: "acme", Dir: "/rejects"},
		Destinations: []*config.Destination{
			{Partner: "cases", Dir: "/inbox"},
			{Partner: "gdw", Dir: "/in", Profile: "bailiff"},
		},
	}})
	g.cfg.Layouts = acmeClaimsLayout()
	if err := CheckConfig(g.cfg); err != nil {
		t.Fatal(err)
	}
	return g, acme, cases, gdw
}

// acmeClaimsLayout is the layout of excelClaims.
func acmeClaimsLayout() map[string]*config.Layout {
	return map[string]*config.Layout{"acme-claims": {Name: "acme-claims", Record: "claim", Delimiter: ";",
		Charset: "windows-1252", Decimal: ",", Date: "02-01-2006",
		Columns: map[string]string{"Dossier": "case_ref", "Factuur": "creditor_ref", "Klantnummer": "debtor_ref",
			"Naam": "name", "Postcode": "postcode", "Plaats": "city", "Geboortedatum": "birth_date",
			"E-mail": "email", "IBAN": "iban", "Bedrag": "principal"}}}
}

func TestTransformMinimizesPerDestination(t *testing.T) {
	g, acme, cases, gdw := transformRig(t)
	os.WriteFile(filepath.Join(acme, "outbox", "claims_1.csv"), excelClaims(t), 0o644)
	res, err := g.run("claims-in")
	if err != nil || res.Files != 1 || res.Delivered != 3 {
		t.Fatalf("run = %+v, %v; want one file, two outputs and a reject report delivered", res, err)
	}
	internal, _ := os.ReadFile(filepath.Join(cases, "inbox", "claims_1.csv"))
	bailiff, _ := os.ReadFile(filepath.Join(gdw, "in", "claims_1.csv"))
	report, _ := os.ReadFile(filepath.Join(acme, "rejects", "claims_1.rejects.csv"))

	// The internal case system gets every field, canonical and UTF-8.
	for _, want := range []string{"José de Vries", "jose@example.nl", "NL91ABNA0417164300", "1234 AB", "1234.56", "1980-02-01"} {
		if !strings.Contains(string(internal), want) {
			t.Errorf("internal output lacks %q:\n%s", want, internal)
		}
	}
	// The bailiff gets name and address, never e-mail or the debtor's IBAN.
	if !strings.Contains(string(bailiff), "José de Vries") {
		t.Errorf("bailiff output lacks the debtor's name:\n%s", bailiff)
	}
	for _, never := range []string{"email", "iban", "@example.nl", "NL91ABNA0417164300"} {
		if strings.Contains(string(bailiff), never) {
			t.Errorf("bailiff output carries %q:\n%s", never, bailiff)
		}
	}
	// Neither output has the rejected row; the report names line, reference, column and reason.
	for _, out := range [][]byte{internal, bailiff} {
		if bytes.Contains(out, []byte("Piet Bakker")) || bytes.Count(out, []byte("\n")) != 3 {
			t.Errorf("output should hold the header and two good rows:\n%s", out)
		}
	}
	if !strings.Contains(string(report), "3,F-101,IBAN,invalid_iban") || strings.Contains(string(report), "Piet") {
		t.Errorf("reject report = %q", report)
	}
	// Ledger: counts, and disclosures only of what the bailiff received.
	f := onlyFile(t, g, "claims-in")
	if f.State != ledger.StateDone || f.Rows != 3 || f.Rejected != 1 {
		t.Fatalf("ledger file = %+v", f)
	}
	for ref, want := range map[string]int{"K-1": 2, "K-3": 2, "K-2": 0} {
		ds, err := g.ledger.Disclosures(g.ledger.Pseudonym("acme", ref))
		if err != nil || len(ds) != want {
			t.Errorf("disclosures of %s = %d (%v), want %d", ref, len(ds), err, want)
		}
	}
	ev := g.logs.FilterMessage("file transformed").All()
	if len(ev) != 1 || ev[0].ContextMap()["rows"] != int64(3) || ev[0].ContextMap()["rejected"] != int64(1) {
		t.Fatalf("transform event = %v", ev)
	}
	g.checkLogs("José", "Piet Bakker", "NL91ABNA0417164300", "@example.nl", "1.234,56")
	g.stagingEmpty()
}

func TestTransformBSNRejectsWholeFile(t *testing.T) {
	g, acme, cases, gdw := transformRig(t)
	withBSN := []byte("Factuur;Klantnummer;Naam;BSN;Bedrag\r\nF-1;K-1;Jan Smit;111222333;10,00\r\n")
	os.WriteFile(filepath.Join(acme, "outbox", "claims_bsn.csv"), withBSN, 0o644)
	res, err := g.run("claims-in")
	if err != nil || res.Files != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	for _, dir := range []string{filepath.Join(cases, "inbox"), filepath.Join(gdw, "in")} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s received %v from a file with a BSN", dir, ents)
		}
	}
	report, _ := os.ReadFile(filepath.Join(acme, "rejects", "claims_bsn.rejects.csv"))
	if !strings.Contains(string(report), "BSN") || !strings.Contains(string(report), "bsn_column") || strings.Contains(string(report), "111222333") {
		t.Fatalf("reject report = %q; want it to name the column and reason, never the value", report)
	}
	f := onlyFile(t, g, "claims-in")
	if f.State != ledger.StateRejected {
		t.Fatalf("ledger state = %s, want rejected", f.State)
	}
	sec := g.logs.FilterMessage("file rejected").FilterField(zap.Bool("security", true)).All()
	if len(sec) != 1 {
		t.Fatalf("want one security event for the BSN, got %v", g.logs.FilterMessage("file rejected").All())
	}
	g.checkLogs("111222333", "Jan Smit")
	g.stagingEmpty()
	if _, err := os.Stat(filepath.Join(acme, "outbox", "claims_bsn.csv")); !os.IsNotExist(err) {
		t.Error("source not cleaned")
	}
}

// TestTransformMacLineEnds: Excel's "CSV (Macintosh)" has bare CR line ends. Its rows arrive,
// and the log accounts for every line.
func TestTransformMacLineEnds(t *testing.T) {
	g, acme, cases, _ := transformRig(t)
	os.WriteFile(filepath.Join(acme, "outbox", "claims_mac.csv"), bytes.ReplaceAll(excelClaims(t), []byte("\r\n"), []byte("\r")), 0o644)
	if res, err := g.run("claims-in"); err != nil || res.Delivered != 3 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	internal, _ := os.ReadFile(filepath.Join(cases, "inbox", "claims_mac.csv"))
	if !strings.Contains(string(internal), "José de Vries") || !strings.Contains(string(internal), "Anna Jansen") {
		t.Fatalf("internal output = %q", internal)
	}
	ev := g.logs.FilterMessage("file transformed").All()
	if len(ev) != 1 || ev[0].ContextMap()["rows"] != int64(3) || ev[0].ContextMap()["lines"] != int64(4) || ev[0].ContextMap()["blank"] != int64(0) {
		t.Fatalf("transform event = %v", ev)
	}
	g.checkLogs("José", "Piet Bakker", "NL91ABNA0417164300")
}

// TestTransformNoRowsRejected: text after the header that yields no row rejects the file; a
// header-only file is never delivered in its place.
func TestTransformNoRowsRejected(t *testing.T) {
	g, acme, cases, gdw := transformRig(t)
	os.WriteFile(filepath.Join(acme, "outbox", "claims_empty.csv"), []byte("Factuur;Klantnummer;Naam;Bedrag\r\n;;;\r\n"), 0o644)
	if _, err := g.run("claims-in"); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(cases, "inbox"), filepath.Join(gdw, "in")} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s received %v", dir, ents)
		}
	}
	report, _ := os.ReadFile(filepath.Join(acme, "rejects", "claims_empty.rejects.csv"))
	if !strings.Contains(string(report), "no_rows") {
		t.Fatalf("reject report = %q", report)
	}
	if f := onlyFile(t, g, "claims-in"); f.State != ledger.StateRejected {
		t.Fatalf("ledger state = %s, want rejected", f.State)
	}
}

// TestTransformPossibleBSN: a BSN in a name rejects its row with a security event that carries a
// count, never the value; the other rows go on.
func TestTransformPossibleBSN(t *testing.T) {
	g, acme, cases, _ := transformRig(t)
	in := "Factuur;Klantnummer;Naam;Bedrag\r\nF-1;K-1;Jan Smit 111222333;10,00\r\nF-2;K-2;Els Vos;20,00\r\n"
	os.WriteFile(filepath.Join(acme, "outbox", "claims_1.csv"), []byte(in), 0o644)
	if _, err := g.run("claims-in"); err != nil {
		t.Fatal(err)
	}
	internal, _ := os.ReadFile(filepath.Join(cases, "inbox", "claims_1.csv"))
	if strings.Contains(string(internal), "111222333") || !strings.Contains(string(internal), "Els Vos") {
		t.Fatalf("internal output = %q", internal)
	}
	report, _ := os.ReadFile(filepath.Join(acme, "rejects", "claims_1.rejects.csv"))
	if !strings.Contains(string(report), "2,F-1,Naam,possible_bsn") {
		t.Fatalf("reject report = %q", report)
	}
	sec := g.logs.FilterField(zap.Bool("security", true)).All()
	if len(sec) != 1 || sec[0].ContextMap()["possible_bsn"] != int64(1) {
		t.Fatalf("want one security event counting one row, got %v", sec)
	}
	g.checkLogs("111222333", "Jan Smit")
}

func TestTransformRejectReportResumesAfterFailure(t *testing.T) {
	g, acme, _, _ := transformRig(t)
	os.WriteFile(filepath.Join(acme, "outbox", "claims_bsn.csv"), []byte("Factuur;BSN\r\nF-1;111222333\r\n"), 0o644)
	os.RemoveAll(filepath.Join(acme, "rejects")) // the creditor's rejects dir is missing
	if _, err := g.run("claims-in"); err == nil {
		t.Fatal("run succeeded without a place for the report")
	}
	ids, _ := g.runner.Staging().IDs()
	if len(ids) != 1 {
		t.Fatal("report not kept in staging")
	}
	if _, err := os.Stat(g.runner.Staging().Path(ids[0], "claims_bsn.csv")); !os.IsNotExist(err) {
		t.Fatal("the file with a BSN is still staged")
	}
	mkdirs(t, acme, "rejects")
	if _, err := g.run("claims-in"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(acme, "rejects", "claims_bsn.rejects.csv")); err != nil {
		t.Fatal("report not delivered on the next run")
	}
	if f := onlyFile(t, g, "claims-in"); f.State != ledger.StateRejected {
		t.Fatalf("state = %s", f.State)
	}
	g.stagingEmpty()
}

func onlyFile(t *testing.T, g *rig, job string) *ledger.File {
	t.Helper()
	f, err := g.ledger.File(1)
	if err != nil || f.Job != job {
		t.Fatalf("ledger file 1 = %+v, %v", f, err)
	}
	return f
}

func TestTransformWritesEachRecipientsFormat(t *testing.T) {
	g, acme, cases, _ := transformRig(t)
	g.cfg.Jobs["claims-in"].Destinations[0].Format = &config.Format{Delimiter: ";", Decimal: ",", Date: "02-01-2006",
		Headers: map[string]string{"debtor_ref": "Klantnummer", "principal": "Hoofdsom"}}
	if err := CheckConfig(g.cfg); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(acme, "outbox", "claims_1.csv"), excelClaims(t), 0o644)
	if _, err := g.run("claims-in"); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(cases, "inbox", "claims_1.csv"))
	lines := strings.Split(string(out), "\n")
	if !strings.Contains(lines[0], ";Klantnummer;") || !strings.Contains(lines[0], ";Hoofdsom") || strings.Contains(lines[0], "debtor_ref") {
		t.Fatalf("header = %q", lines[0])
	}
	if !strings.Contains(lines[1], ";1234,56") || !strings.Contains(lines[1], ";01-02-1980;") {
		t.Fatalf("row = %q; want decimal comma and dd-mm-yyyy", lines[1])
	}
	g.cfg.Jobs["claims-in"].Destinations[0].Format.Headers = map[string]string{"no_such_field": "X"}
	if err := CheckConfig(g.cfg); err == nil || !strings.Contains(err.Error(), "destinations[0].format") {
		t.Fatalf("CheckConfig with an unknown field = %v", err)
	}
}

// A source file named like our internal staged names cannot clobber its
// own reject report.
func TestSourceNamedLikeInternalFiles(t *testing.T) {
	g, acme, _, _ := transformRig(t)
	g.cfg.Jobs["claims-in"].Source.Match = "*"
	os.WriteFile(filepath.Join(acme, "outbox", "rejects.csv"), []byte("Factuur;BSN\r\nF-1;111222333\r\n"), 0o644)
	if _, err := g.run("claims-in"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(acme, "rejects", "rejects.rejects.csv"))
	if err != nil || !strings.Contains(string(b), "bsn_column") {
		t.Fatalf("report = %q, %v", b, err)
	}
}

// A crash in a rejection after the staged copy was removed, before the
// report was staged (no rejects destination): the next run finishes it.
func TestRejectionResumesWithoutReport(t *testing.T) {
	g, acme, _, _ := transformRig(t)
	g.cfg.Jobs["claims-in"].Rejects = nil
	os.WriteFile(filepath.Join(acme, "outbox", "claims_bsn.csv"), []byte("Factuur;BSN\r\nF-1;111222333\r\n"), 0o644)
	// Take the file to "cleaned", then remove its staged copy as the
	// rejection does just before a crash.
	f := &ledger.File{Job: "claims-in", Partner: "acme", Dir: "/outbox", Name: "claims_bsn.csv", Size: 1, ModTime: g.runner.Now()}
	id, err := g.ledger.AddFile(f)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := g.runner.Staging().Create(id, "claims_bsn.csv")
	st.Write([]byte("x"))
	n, sum, _ := st.Commit()
	g.ledger.MarkStaged(id, sum, n)
	g.ledger.SetState(id, ledger.StateCleaned)
	if err := g.runner.Staging().MarkRejected(id); err != nil {
		t.Fatal(err)
	}
	os.Remove(g.runner.Staging().Path(id, "claims_bsn.csv"))
	os.Remove(filepath.Join(acme, "outbox", "claims_bsn.csv"))
	// The subjects its outputs had recorded before the crash.
	g.ledger.AddSubjects(id, 0, []string{g.ledger.Pseudonym("acme", "K-1")})
	if _, err := g.run("claims-in"); err != nil {
		t.Fatal(err)
	}
	if got, _ := g.ledger.File(id); got.State != ledger.StateRejected {
		t.Fatalf("state = %s, want rejected", got.State)
	}
	if n := subjectRows(t, g, id); n != 0 {
		t.Errorf("%d subjects left for the rejected file", n)
	}
	g.stagingEmpty()
}

// A staged copy that is missing without the rejection's mark is not taken
// for a rejection: the file fails loudly, stays pending, and nothing of it
// is removed or recorded as rejected.
func TestMissingStagedCopyIsNotARejection(t *testing.T) {
	g, _, _, _ := transformRig(t)
	f := &ledger.File{Job: "claims-in", Partner: "acme", Dir: "/outbox", Name: "claims_1.csv", Size: 1, ModTime: g.runner.Now()}
	id, err := g.ledger.AddFile(f)
	if err != nil {
		t.Fatal(err)
	}
	g.ledger.MarkStaged(id, sum([]byte("x")), 1)
	g.ledger.SetState(id, ledger.StateCleaned)
	res, err := g.run("claims-in")
	if err == nil || res.Failed != 1 {
		t.Fatalf("run = %+v, %v; want the file failed", res, err)
	}
	got, _ := g.ledger.File(id)
	if got.State != ledger.StateCleaned || !strings.Contains(got.Error, "staged copy of file") {
		t.Fatalf("file = %+v; want still cleaned, with the missing copy as its error", got)
	}
	if ev := g.logs.FilterMessage("file failed").All(); len(ev) != 1 || ev[0].ContextMap()["permanent"] != true {
		t.Errorf("file failed events = %v", ev)
	}
}

// subjectRows counts the data subjects the ledger holds for file id.
func subjectRows(t *testing.T, g *rig, id int64) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(g.cfg.StateDir, "ledger.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM subjects WHERE file_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// manyClaims is a claims file in the acme-claims layout with n rows: the debtor reference
// ref(i) on row i, and kenmerk(i) in a column no field takes.
func manyClaims(n int, ref, kenmerk func(i int) string) []byte {
	b := []byte("Factuur;Klantnummer;Naam;Bedrag;Kenmerk\r\n")
	for i := 1; i <= n; i++ {
		b = fmt.Appendf(b, "F-%d;%s;Jan Smit;10,00;%s\r\n", i, ref(i), kenmerk(i))
	}
	return b
}

func kRef(i int) string { return fmt.Sprintf("K-%d", i) }

// cleanedFile records data as the file acme/outbox/name of claims-in staged and its source
// cleaned, as a run leaves it just before prepare, and returns its id.
func cleanedFile(t *testing.T, g *rig, acme, name string, data []byte) int64 {
	t.Helper()
	src := filepath.Join(acme, "outbox", name)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	id := stagedFile(t, g, "claims-in", "acme", acme, name)
	os.Remove(src)
	if err := g.ledger.SetState(id, ledger.StateCleaned); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestTransformRejectedFileLeavesNoSubjects: the subjects of a file's outputs are recorded in
// batches of 1000 while it is read; a file of 2500 rows rejected whole only at its end (a
// BSN column found by its values: written with dots as the debtor reference, or plain in a
// column no field takes) leaves none of them in the ledger.
func TestTransformRejectedFileLeavesNoSubjects(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var bsns []string
	for len(bsns) < 2500 {
		s := fmt.Sprintf("%09d", rnd.IntN(1e9))
		sum := 0
		for i := range 8 {
			sum += (9 - i) * int(s[i]-'0')
		}
		if sum -= int(s[8] - '0'); sum%11 == 0 && sum != 0 {
			bsns = append(bsns, s)
		}
	}
	none := func(int) string { return "" }
	cases := map[string][]byte{
		"dotted debtor references": manyClaims(2500, func(i int) string {
			b := bsns[i-1]
			return b[:4] + "." + b[4:6] + "." + b[6:]
		}, none),
		"unmapped column": manyClaims(2500, kRef, func(i int) string { return bsns[i-1] }),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			g, acme, cases, gdw := transformRig(t)
			os.WriteFile(filepath.Join(acme, "outbox", "claims_bsn.csv"), data, 0o644)
			if res, err := g.run("claims-in"); err != nil || res.Files != 1 || res.Delivered != 1 {
				t.Fatalf("run = %+v, %v; want the file rejected and its report delivered", res, err)
			}
			if f := onlyFile(t, g, "claims-in"); f.State != ledger.StateRejected || f.Rows != 2500 {
				t.Fatalf("ledger file = %+v, want rejected after 2500 rows", f)
			}
			for _, dir := range []string{filepath.Join(cases, "inbox"), filepath.Join(gdw, "in")} {
				if ents, _ := os.ReadDir(dir); len(ents) != 0 {
					t.Errorf("%s received %v", dir, ents)
				}
			}
			if n := subjectRows(t, g, 1); n != 0 {
				t.Errorf("%d subjects left in the ledger for a rejected file", n)
			}
			g.stagingEmpty()
		})
	}
}

// TestTransformSubjectsOnce: subjects of outputs that a failed preparation discards are
// dropped; the file prepared again has each of its subjects recorded once per output, also
// after an attempt cut short by a crash left some behind (among them ones that attempt's
// config gave an output this one does not have).
func TestTransformSubjectsOnce(t *testing.T) {
	g, acme, cases, gdw := transformRig(t)
	data := manyClaims(2500, kRef, func(int) string { return "" })
	id := cleanedFile(t, g, acme, "claims_1.csv", data)

	// The second output cannot be committed: the first is, its subjects and all, then discarded.
	block := g.runner.Staging().Path(id, ".out-1-gdw-bailiff.csv")
	os.MkdirAll(filepath.Join(block, "x"), 0o700)
	if res, err := g.run("claims-in"); err == nil && res.Failed == 0 {
		t.Fatalf("run = %+v, %v; want the file failed", res, err)
	}
	if f, _ := g.ledger.File(id); f.State != ledger.StateCleaned {
		t.Fatalf("state = %s, want cleaned", f.State)
	}
	if n := subjectRows(t, g, id); n != 0 {
		t.Fatalf("%d subjects left after a failed preparation", n)
	}
	os.RemoveAll(block)

	// What a crash after two batches leaves: references of the file, a stale one, and an output
	// of a destination since removed.
	var left []string
	for i := 1; i <= 2000; i++ {
		left = append(left, g.ledger.Pseudonym("acme", kRef(i)))
	}
	g.ledger.AddSubjects(id, 0, left)
	g.ledger.AddSubjects(id, 1, append(left[:1000:1000], g.ledger.Pseudonym("acme", "K-stale")))
	g.ledger.AddSubjects(id, 2, left[:1])

	if res, err := g.run("claims-in"); err != nil || res.Delivered != 2 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if f, _ := g.ledger.File(id); f.State != ledger.StateDone {
		t.Fatalf("state = %s, want done", f.State)
	}
	if n := subjectRows(t, g, id); n != 2*2500 {
		t.Errorf("%d subjects recorded, want 2500 for each of 2 outputs", n)
	}
	for ref, want := range map[string]int{"K-1": 2, "K-1500": 2, "K-2500": 2, "K-stale": 0} {
		if ds, err := g.ledger.Disclosures(g.ledger.Pseudonym("acme", ref)); err != nil || len(ds) != want {
			t.Errorf("disclosures of %s = %d (%v), want %d", ref, len(ds), err, want)
		}
	}
	for _, f := range []string{filepath.Join(cases, "inbox", "claims_1.csv"), filepath.Join(gdw, "in", "claims_1.csv")} {
		if b, err := os.ReadFile(f); err != nil || bytes.Count(b, []byte("\n")) != 2501 {
			t.Errorf("%s: %d lines, %v", f, bytes.Count(b, []byte("\n")), err)
		}
	}
	g.stagingEmpty()
}

// TestTransformOverCorruptStagedCopy: a staged copy with a flipped byte
// halfway fails authentication while the transform reads it. The file is
// not rejected, stays cleaned with the failure as its error (a security
// event), no output or report is kept, nothing is delivered and no data
// subject stays recorded; restored, it goes through.
func TestTransformOverCorruptStagedCopy(t *testing.T) {
	g, acme, cases, gdw := transformRig(t)
	data := manyClaims(5000, kRef, func(int) string { return "" }) // ~200 KB: 4 chunks
	id := cleanedFile(t, g, acme, "claims_1.csv", data)
	p := g.runner.Staging().Path(id, "claims_1.csv")
	sealed, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)/2] ^= 0x80
	os.WriteFile(p, flipped, 0o600)

	res, err := g.run("claims-in")
	if err == nil || res.Failed != 1 || res.Delivered != 0 {
		t.Fatalf("run = %+v, %v; want the file failed", res, err)
	}
	got, _ := g.ledger.File(id)
	if got.State != ledger.StateCleaned || !strings.Contains(got.Error, "authentication failed") {
		t.Fatalf("file = %s, %q; want still cleaned, failing authentication", got.State, got.Error)
	}
	ev := g.logs.FilterMessage("file failed").All()
	if len(ev) != 1 || ev[0].ContextMap()["security"] != true || ev[0].ContextMap()["permanent"] != true {
		t.Fatalf("file failed events = %v; want one, permanent, a security event", ev)
	}
	if ents, _ := os.ReadDir(filepath.Join(g.runner.Staging().Dir(), strconv.FormatInt(id, 10))); len(ents) != 0 {
		t.Errorf("outputs kept from a copy that failed authentication: %v", ents)
	}
	for _, dir := range []string{filepath.Join(cases, "inbox"), filepath.Join(gdw, "in"), filepath.Join(acme, "rejects")} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s received %v", dir, ents)
		}
	}
	if n := subjectRows(t, g, id); n != 0 {
		t.Errorf("%d subjects recorded from a copy that failed authentication", n)
	}

	os.WriteFile(p, sealed, 0o600)
	if res, err := g.run("claims-in"); err != nil || res.Delivered != 2 {
		t.Fatalf("run over the restored copy = %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(cases, "inbox", "claims_1.csv")); !bytes.Contains(b, []byte("K-4999")) {
		t.Errorf("delivered %d bytes, want every row", len(b))
	}
}
