package config

import (
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// DefaultCountry is the country a partner without country: is taken to be
// in. Configs written before country: existed keep validating; the
// register shows such a partner's country as assumed, so that the data
// protection officer sees what the config does not state.
const DefaultCountry = "NL"

// Transfer bases (Transfer.Basis) for a partner outside the EU/EEA: the
// legal ground of AVG/GDPR chapter V on which personal data may go there.
const (
	// TransferAdequacy: an adequacy decision of the European Commission
	// (art. 45) covers the partner's country (and, for the US, the partner
	// itself under the Data Privacy Framework).
	TransferAdequacy = "adequacy"
	// TransferSCC: standard contractual clauses (art. 46(2)(c)) signed
	// with the partner.
	TransferSCC = "scc"
)

// Transfer is the legal basis of transfers to a partner outside the
// EU/EEA. Reference says where it is written down: the Commission decision
// ("Implementing Decision (EU) 2023/1795") or the signed clauses ("SCC
// 2021/914 module 1, signed 2026-03-01, contract C-123").
type Transfer struct {
	Basis     string `yaml:"basis"`     // adequacy | scc
	Reference string `yaml:"reference"` // required
}

// eea lists the member states of the European Economic Area as ISO 3166-1
// alpha-2 codes: the 27 EU member states, then Iceland, Liechtenstein and
// Norway. Personal data flows freely among them (AVG/GDPR art. 1(3) and
// the EEA agreement); a partner elsewhere needs a Transfer. Greece is GR
// here, as in ISO 3166-1 (the EU's own "EL" is not an ISO code).
var eea = []string{
	"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
	"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
	"IS", "LI", "NO",
}

// withdrawn are ISO 3166-1 codes of countries that no longer exist, which
// x/text still knows as regions.
var withdrawn = []string{"AN", "CS", "DD", "SU", "YU", "ZR", "TP", "BU"}

// InEEA reports whether country, an ISO 3166-1 alpha-2 code, is a member
// state of the EU or the EEA.
func InEEA(country string) bool {
	return slices.Contains(eea, country)
}

// CountryCode returns the partner's country and whether it was assumed:
// Country when set, else DefaultCountry and true.
func (p *Partner) CountryCode() (code string, assumed bool) {
	if p.Country == "" {
		return DefaultCountry, true
	}
	return p.Country, false
}

// maxFreeText is the longest contact: or purpose: accepted, in characters.
const maxFreeText = 500

// validatePrivacy checks a partner's country, transfer and contact.
func validatePrivacy(p *problems, at string, pt *Partner) {
	if pt.Country != "" {
		checkCountry(p, at+".country", pt.Country)
	}
	country, _ := pt.CountryCode()
	t := pt.Transfer
	switch {
	case t == nil && validCountry(country) && !InEEA(country):
		p.add(at+".transfer", "required: %s is outside the EU/EEA; state the basis of the transfer "+
			"(transfer: {basis: adequacy or scc, reference: \"...\"})", country)
	case t != nil && InEEA(country):
		p.add(at+".transfer", "only for a partner outside the EU/EEA; %s is in it", country)
	case t != nil:
		switch t.Basis {
		case TransferAdequacy, TransferSCC:
		case "":
			p.add(at+".transfer.basis", "required: adequacy (a Commission decision) or scc (standard contractual clauses)")
		default:
			p.add(at+".transfer.basis", "must be adequacy or scc, not %q", t.Basis)
		}
		freeText(p, at+".transfer.reference", t.Reference, true)
	}
	freeText(p, at+".contact", pt.Contact, false)
}

// validatePurpose checks a job's purpose. It is optional: the register
// marks a job without one.
func validatePurpose(p *problems, at string, j *Job) {
	freeText(p, at+".purpose", j.Purpose, false)
}

// freeText checks a free-text field: one line, printable, at most maxFreeText
// characters; required or not.
func freeText(p *problems, at, s string, required bool) {
	switch {
	case strings.TrimSpace(s) == "":
		if required {
			p.add(at, "required")
		} else if s != "" {
			p.add(at, "must not be blank")
		}
	case hasControl(s):
		p.add(at, "must be one line without control characters")
	case utf8.RuneCountInString(s) > maxFreeText:
		p.add(at, "at most %d characters", maxFreeText)
	}
}

func validCountry(code string) bool {
	r, err := language.ParseRegion(code)
	return err == nil && len(code) == 2 && r.IsCountry() && r.String() == code &&
		r.Canonicalize().String() == code && !slices.Contains(withdrawn, code)
}

// checkCountry checks an ISO 3166-1 alpha-2 country code.
func checkCountry(p *problems, at, code string) {
	if validCountry(code) {
		return
	}
	if r, err := language.ParseRegion(code); err == nil && r.IsCountry() {
		if c := r.Canonicalize().String(); c != code && validCountry(c) {
			p.add(at, "write %q: countries are ISO 3166-1 alpha-2 codes in capitals", c)
			return
		}
	}
	if code == "EL" {
		p.add(at, `write "GR" for Greece: countries are ISO 3166-1 alpha-2 codes`)
		return
	}
	p.add(at, "%q is not an ISO 3166-1 alpha-2 country code (e.g. NL, DE, US)", code)
}
