package transform

import (
	"fmt"
	"slices"
)

// Profile is the set of canonical fields one recipient may receive; every other field is dropped
// before a file leaves.
type Profile struct {
	Name   string
	Fields []string // canonical fields allowed
}

// groups are the field groups a profile allows or not. Every canonical field belongs to exactly
// one; init panics otherwise.
var groups = map[string][]string{
	"reference": {"case_ref", "creditor_ref", "debtor_ref"},
	"person":    {"name", "street", "house_number", "postcode", "city", "kvk", "btw_id"},
	"birth":     {"birth_date"},
	"contact":   {"email", "phone"},
	"bank":      {"iban"},
	"invoice":   {"invoice_number", "invoice_date"},
	"amount":    {"principal", "interest", "costs"},
	"status":    {"status_code", "status_date", "paid_amount", "payment_date"},
	// creditor names the creditor partner a row belongs to, for the ledger's pseudonym of its
	// data subject; no built-in profile sends it on.
	"creditor": {"creditor"},
}

// profileGroups is the profile table: which groups each built-in profile allows.
var profileGroups = map[string][]string{
	"internal":         {"reference", "person", "birth", "contact", "bank", "invoice", "amount", "status"},
	"bailiff":          {"reference", "person", "birth", "invoice", "amount", "status"},
	"lawyer":           {"reference", "person", "birth", "invoice", "amount", "status"},
	"creditor-status":  {"reference", "amount", "status"},
	"creditor-payment": {"reference", "status"},
}

// Profiles lists the built-in profile names.
var Profiles = []string{"internal", "bailiff", "lawyer", "creditor-status", "creditor-payment"}

// BuiltinProfile returns a built-in profile: internal, bailiff, lawyer, creditor-status or
// creditor-payment.
func BuiltinProfile(name string) (Profile, error) {
	gs, ok := profileGroups[name]
	if !ok {
		return Profile{}, fmt.Errorf("transform: unknown profile %q", name)
	}
	p := Profile{Name: name}
	for _, g := range gs {
		p.Fields = append(p.Fields, groups[g]...)
	}
	return p, nil
}

// Narrow returns p allowing only fields, each of which p must already allow: a profile can be
// narrowed, never widened. The error names the first field p does not allow.
func (p Profile) Narrow(fields []string) (Profile, error) {
	n := Profile{Name: p.Name, Fields: make([]string, 0, len(fields))}
	for _, f := range fields {
		if !slices.Contains(p.Fields, f) {
			return Profile{}, fmt.Errorf("transform: profile %s does not allow field %q", p.Name, f)
		}
		if !slices.Contains(n.Fields, f) {
			n.Fields = append(n.Fields, f)
		}
	}
	return n, nil
}

func (p Profile) allows(field string) bool { return slices.Contains(p.Fields, field) }

// isField reports whether name is a canonical field of any record.
func isField(name string) bool {
	for _, rd := range records {
		if _, ok := rd.byName[name]; ok {
			return true
		}
	}
	return false
}

func init() {
	grouped := map[string]bool{}
	for _, fs := range groups {
		for _, f := range fs {
			grouped[f] = true
		}
	}
	for _, rd := range records {
		for _, f := range rd.fields {
			if !grouped[f.name] {
				panic("transform: field " + f.name + " belongs to no profile group")
			}
		}
	}
}
