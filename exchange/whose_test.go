package exchange

import (
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
)

// whoseRun is a run of job j, whose transform reads layout (whose
// creditor is layoutCreditor, "" for none), on a config of creditors acme
// and beta, the case system cases and bailiff gdw.
func whoseRun(layoutCreditor string) *run {
	cfg := &config.Config{
		Partners: map[string]*config.Partner{
			"acme":  {Name: "acme", Role: config.RoleCreditor},
			"beta":  {Name: "beta", Role: config.RoleCreditor},
			"cases": {Name: "cases", Role: config.RoleInternal},
			"gdw":   {Name: "gdw", Role: config.RoleBailiff},
		},
		Layouts: map[string]*config.Layout{"l": {Name: "l", Creditor: layoutCreditor}},
	}
	job := &config.Job{Name: "j", Transform: &config.Transform{Layout: "l"}}
	return &run{Runner: &Runner{cfg: cfg}, job: job}
}

// Whose debtor a row is (docs/config.md, "Whose debtor"): the creditor it
// is recorded under ("" unknown) and the creditor its pseudonym is keyed on.
func TestWhoseDebtor(t *testing.T) {
	for _, c := range []struct {
		name              string
		source, layout    string
		field             string
		creditor, keyedOn string
	}{
		// (a) A creditor cannot claim another's debtors: its own file's
		// creditor column naming another creditor is ignored.
		{"creditor's file naming another creditor", "acme", "", "beta", "acme", "acme"},
		{"creditor's file naming no partner", "acme", "", "nosuch", "acme", "acme"},
		{"creditor's file, layout naming another", "acme", "beta", "", "acme", "acme"},
		// The case system's file: the row's field, else the layout's.
		{"case system, field names a creditor", "cases", "", "beta", "beta", "beta"},
		{"case system, field over layout", "cases", "beta", "acme", "acme", "acme"},
		{"case system, empty field, layout's creditor", "cases", "beta", "", "beta", "beta"},
		// (b) A field naming no creditor partner is unknown, even with a
		// layout creditor: the row contradicts the layout.
		{"invalid field beside a layout creditor", "cases", "beta", "nosuch", "", "cases"},
		{"field naming a bailiff beside a layout creditor", "cases", "beta", "gdw", "", "cases"},
		// (c) Neither field nor layout creditor: unknown, keyed on the source.
		{"no field, no layout creditor", "cases", "", "", "", "cases"},
		{"bailiff's file, no field, no layout creditor", "gdw", "", "", "", "gdw"},
	} {
		whose := whoseRun(c.layout).whose(&ledger.File{Partner: c.source})
		creditor, key := whose(c.field)
		if creditor != c.creditor || key != c.keyedOn {
			t.Errorf("%s: whose(%q) = %q keyed on %q, want %q keyed on %q", c.name, c.field, creditor, key, c.creditor, c.keyedOn)
		}
	}
}

// The rows whose creditor field names no creditor partner are counted,
// for the log; no value is kept.
func TestSubjectBatchCountsCreditorUnknown(t *testing.T) {
	g, _, _ := localRig(t, config.Source{})
	rn := whoseRun("")
	b := &subjectBatch{l: g.ledger, whose: rn.whose(&ledger.File{Partner: "cases"})}
	for _, field := range []string{"acme", "nosuch", "", "gdw", "beta"} {
		b.add(field, "K-1", "")
	}
	b.add("nosuch", "", "") // no debtor: no subject, not counted
	if b.unnamed != 2 {
		t.Errorf("counted %d rows naming no creditor, want 2", b.unnamed)
	}
	o := &outputs{subjects: []*subjectBatch{b, {unnamed: 1}}}
	if n := o.creditorUnknown(); n != 2 {
		t.Errorf("creditorUnknown = %d, want 2 (the most one output saw)", n)
	}
	if len(b.buf) != 5 || b.buf[1].Creditor != "" || b.buf[0].Creditor != "acme" {
		t.Errorf("subjects %+v", b.buf)
	}
}
