package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
)

// SubjectCommand answers a data subject's access request (AVG art. 15(1)(c))
// and names whom to notify of a rectification or erasure (art. 19): every
// disclosure of one debtor of one creditor, or of the subjects of one of
// the agency's cases, from the ledger and the config. The debtor or case
// reference is used to compute the pseudonym and is never stored or
// printed.
type SubjectCommand struct {
	stdout, stderr io.Writer
}

// SubjectDisclosure is one line of exchanged subject's answer.
type SubjectDisclosure struct {
	Partner   string    `json:"partner"`
	Role      string    `json:"role"`              // "" if the partner is no longer in the config
	Contact   string    `json:"contact,omitempty"` // whom to notify; "" if the config gives none
	Job       string    `json:"job"`
	File      string    `json:"file"` // the final name delivered
	Dir       string    `json:"dir"`
	SentAt    time.Time `json:"sent_at"`
	Confirmed bool      `json:"confirmed"`             // delivered and verified; else only sent
	ConfirmAt time.Time `json:"confirmed_at,omitzero"` // when it was confirmed
	Fields    []string  `json:"fields"`                // the canonical fields its profile carried
	Known     bool      `json:"fields_known"`          // false: the job or its profile is no longer in the config
	Match     string    `json:"match"`                 // subject | creditor unknown | not read
	Reason    string    `json:"reason,omitempty"`      // why a possible match may be this subject
}

// SubjectAnswer is exchanged subject --json's output.
type SubjectAnswer struct {
	Creditor    string              `json:"creditor"`    // "" for --case without --creditor
	Disclosures []SubjectDisclosure `json:"disclosures"` // keyed on this creditor and debtor
	Possible    []SubjectDisclosure `json:"possible"`    // creditor unknown: this debtor reference at another source
	NotRead     []SubjectDisclosure `json:"not_read"`    // files passed unchanged that may have carried them
}

// The matches of a SubjectDisclosure.
const (
	matchSubject = "subject"
	matchUnknown = "creditor unknown"
	matchNotRead = "not read"
)

// Run prints the disclosures of the subject --creditor, --debtor names, or
// of the subjects of the case --case names.
func (c *SubjectCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("subject", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", "", "config file")
	creditor := fs.String("creditor", "", "the creditor partner, as named in the config")
	debtor := fs.String("debtor", "", "the creditor's reference for the debtor (debtor_ref)")
	caseRef := fs.String("case", "", "the agency's case reference (case_ref), instead of --debtor")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || (*debtor == "") == (*caseRef == "") || *debtor != "" && *creditor == "" {
		return fmt.Errorf("%w: exchanged subject --config FILE {--creditor C --debtor D | [--creditor C] --case REF} [--json]", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if r := partnerRole(cfg, *creditor); r != "" && r != config.RoleCreditor {
		return fmt.Errorf("%w: --creditor %s is a %s, not a creditor", errUsage, *creditor, r)
	}
	l, err := openLedgerReadOnly(cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	var ans *SubjectAnswer
	if *caseRef != "" {
		ans, err = caseAnswer(cfg, l, *creditor, *caseRef)
	} else {
		ans, err = subjectAnswer(cfg, l, *creditor, *debtor)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ans)
	}
	return printSubject(c.stdout, cfg, ans)
}

// subjectAnswer collects the disclosures of creditor's debtor from l.
//
// A subject's pseudonym is keyed on its creditor. A row whose creditor was
// not known (a file of the case system without a creditor, or recorded
// before the creditor was) is keyed on its source partner instead: those
// are looked up by this debtor reference at each source that is not a
// creditor, and listed as possible matches, since another creditor may
// use the same reference. Files passed unchanged were not read: those
// from or to this creditor, or from a source that is not a creditor to a
// partner that is not one, may have carried the subject.
func subjectAnswer(cfg *config.Config, l *ledger.Ledger, creditor, debtor string) (*SubjectAnswer, error) {
	keys := []string{l.Pseudonym(creditor, debtor)}
	for _, name := range sortedNames(cfg.Partners) {
		if !isCreditor(cfg, name) {
			keys = append(keys, l.Pseudonym(name, debtor))
		}
	}
	ds, err := l.SubjectDisclosures(keys...)
	if err != nil {
		return nil, err
	}
	ans := &SubjectAnswer{Creditor: creditor, Disclosures: []SubjectDisclosure{}, Possible: []SubjectDisclosure{}, NotRead: []SubjectDisclosure{}}
	for _, d := range ds {
		switch {
		case d.Creditor == creditor || d.Creditor == "" && d.Source == creditor:
			ans.Disclosures = append(ans.Disclosures, subjectLine(cfg, d.Disclosure, matchSubject, ""))
		case d.Creditor == "" && !isCreditor(cfg, d.Source):
			ans.Possible = append(ans.Possible, subjectLine(cfg, d.Disclosure, matchUnknown,
				"this debtor reference in a file from "+d.Source+" whose creditor was not recorded"))
		}
	}
	if ans.NotRead, err = notRead(cfg, l, map[string]bool{creditor: true}); err != nil {
		return nil, err
	}
	return ans, nil
}

// caseAnswer collects the disclosures of the subjects recorded with the
// case pseudonym of caseRef, of creditor's only if creditor is not "".
//
// Case references are the agency's own and unique across creditors, so
// the case pseudonym is keyed on the reference alone
// (ledger.CasePseudonym): a row whose creditor was not recorded is still
// this case. With --creditor, rows recorded under another creditor are
// left out (they cannot be this creditor's case); those whose creditor
// was not recorded are kept as possible matches, unless their source is
// this creditor. The files passed unchanged are those --debtor lists for
// the creditor given, or else for each creditor the case's rows were
// recorded under (with none known, only those between partners that are
// not creditors).
func caseAnswer(cfg *config.Config, l *ledger.Ledger, creditor, caseRef string) (*SubjectAnswer, error) {
	ds, err := l.CaseDisclosures(l.CasePseudonym(caseRef))
	if err != nil {
		return nil, err
	}
	ans := &SubjectAnswer{Creditor: creditor, Disclosures: []SubjectDisclosure{}, Possible: []SubjectDisclosure{}, NotRead: []SubjectDisclosure{}}
	match := func(d ledger.SubjectDisclosure) bool {
		return creditor == "" || d.Creditor == creditor || d.Creditor == "" && d.Source == creditor
	}
	// A delivery is listed once, whatever subjects of the case it carried,
	// and as a match if any of them is one.
	matched := map[int64]bool{}
	for _, d := range ds {
		if match(d) {
			matched[d.DeliveryID] = true
		}
	}
	creditors := map[string]bool{}
	listed := map[int64]bool{}
	for _, d := range ds {
		switch {
		case listed[d.DeliveryID]:
		case matched[d.DeliveryID]:
			listed[d.DeliveryID] = true
			ans.Disclosures = append(ans.Disclosures, subjectLine(cfg, d.Disclosure, matchSubject, ""))
		case d.Creditor == "":
			listed[d.DeliveryID] = true
			ans.Possible = append(ans.Possible, subjectLine(cfg, d.Disclosure, matchUnknown,
				"this case in a file from "+d.Source+" whose creditor was not recorded"))
		}
		switch {
		case creditor != "":
		case d.Creditor != "":
			creditors[d.Creditor] = true
		case isCreditor(cfg, d.Source):
			creditors[d.Source] = true
		}
	}
	if creditor != "" {
		creditors[creditor] = true
	}
	if ans.NotRead, err = notRead(cfg, l, creditors); err != nil {
		return nil, err
	}
	return ans, nil
}

// notRead returns the deliveries of files passed unchanged that may have
// carried a subject of one of creditors: those from or to one of them,
// and those from a source that is not a creditor to a partner that is not
// one.
func notRead(cfg *config.Config, l *ledger.Ledger, creditors map[string]bool) ([]SubjectDisclosure, error) {
	unread, err := l.UnreadDisclosures()
	if err != nil {
		return nil, err
	}
	out := []SubjectDisclosure{}
	for _, d := range unread {
		var reason string
		switch {
		case creditors[d.Source]:
			reason = "passed unchanged from this creditor"
		case creditors[d.Partner]:
			reason = "passed unchanged to this creditor"
		case !isCreditor(cfg, d.Source) && !isCreditor(cfg, d.Partner):
			reason = "passed unchanged from " + d.Source + ", which holds many creditors' data"
		default:
			continue
		}
		out = append(out, subjectLine(cfg, d.Disclosure, matchNotRead, reason))
	}
	return out, nil
}

func subjectLine(cfg *config.Config, d ledger.Disclosure, match, reason string) SubjectDisclosure {
	s := SubjectDisclosure{Partner: d.Partner, Role: partnerRole(cfg, d.Partner), Contact: partnerContact(cfg, d.Partner),
		Job: d.Job, File: d.Name, Dir: d.Dir, SentAt: d.SentAt, Confirmed: d.State == ledger.DisclosureConfirmed,
		ConfirmAt: d.DeliveredAt, Match: match, Reason: reason, Fields: []string{}}
	if match != matchNotRead {
		if f, ok := disclosedFields(cfg, d.Job, d.Index); ok {
			s.Fields, s.Known = f, true
		}
	}
	return s
}

func printSubject(w io.Writer, cfg *config.Config, ans *SubjectAnswer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(title string, lines []SubjectDisclosure) {
		fmt.Fprintf(tw, "%s: %d\n", title, len(lines))
		if len(lines) == 0 {
			return
		}
		fmt.Fprintln(tw, "PARTNER\tROLE\tCONTACT\tJOB\tFILE\tSENT\tCONFIRMED\tFIELDS")
		for _, s := range lines {
			fields := strings.Join(s.Fields, ",")
			switch {
			case s.Match == matchNotRead:
				fields = "subjects not read (" + s.Reason + ")"
			case !s.Known:
				fields = "unknown: job no longer in the config"
			}
			confirmed := "only sent"
			if s.Confirmed {
				confirmed = when(s.ConfirmAt, cfg.Location)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Partner, orDash(s.Role), orDash(s.Contact), s.Job,
				s.Dir+"/"+s.File, when(s.SentAt, cfg.Location), confirmed, fields)
		}
	}
	section("disclosures of this subject", ans.Disclosures)
	fmt.Fprintln(tw)
	section("possible (creditor not recorded, same debtor reference)", ans.Possible)
	fmt.Fprintln(tw)
	section("files passed unchanged that may have carried them", ans.NotRead)
	return tw.Flush()
}

// sortedNames returns the keys of m in order.
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
