package config

import (
	"strings"
	"testing"
)

// Country, transfer, contact and purpose: each rule broken once, through
// Parse, so that the YAML keys themselves are exercised; the error names
// the field.
func TestPrivacyRules(t *testing.T) {
	setTestEnv(t)
	jansen := "  jansen:\n    role: bailiff\n"
	for _, tc := range []struct {
		name    string
		old, nu string // replaced once in baseYAML
		want    string // "" for a config that must parse
	}{
		{"us without basis", jansen, jansen + "    country: US\n",
			`partners.jansen.transfer: required: US is outside the EU/EEA`},
		{"us with scc", jansen, jansen + "    country: US\n    transfer: {basis: scc, reference: \"SCC 2021/914 module 1, contract 7\"}\n", ""},
		{"ch with adequacy", jansen, jansen + "    country: CH\n    transfer: {basis: adequacy, reference: \"Decision 2000/518/EC\"}\n", ""},
		{"no", jansen, jansen + "    country: \"NO\"\n", ""}, // EEA, not EU
		{"basis missing", jansen, jansen + "    country: US\n    transfer: {reference: x}\n", "partners.jansen.transfer.basis: required"},
		{"basis unknown", jansen, jansen + "    country: US\n    transfer: {basis: consent, reference: x}\n",
			`partners.jansen.transfer.basis: must be adequacy or scc, not "consent"`},
		{"reference missing", jansen, jansen + "    country: US\n    transfer: {basis: scc}\n", "partners.jansen.transfer.reference: required"},
		{"transfer inside the EEA", jansen, jansen + "    country: DE\n    transfer: {basis: scc, reference: x}\n",
			"partners.jansen.transfer: only for a partner outside the EU/EEA; DE is in it"},
		{"transfer with assumed NL", jansen, jansen + "    transfer: {basis: scc, reference: x}\n",
			"partners.jansen.transfer: only for a partner outside the EU/EEA; NL is in it"},
		{"lower case", jansen, jansen + "    country: nl\n", `partners.jansen.country: write "NL"`},
		{"alpha-3", jansen, jansen + "    country: NLD\n", `partners.jansen.country: write "NL"`},
		{"not a country", jansen, jansen + "    country: EU\n", `partners.jansen.country: "EU" is not`},
		{"unassigned", jansen, jansen + "    country: QQ\n", `partners.jansen.country: "QQ" is not`},
		{"withdrawn", jansen, jansen + "    country: AN\n", `partners.jansen.country: "AN" is not`},
		{"UK", jansen, jansen + "    country: UK\n", `partners.jansen.country: write "GB"`},
		{"EL", jansen, jansen + "    country: EL\n", `partners.jansen.country: write "GR" for Greece`},
		{"contact", jansen, jansen + "    contact: \"Privacy desk, privacy@jansen.example\"\n", ""},
		{"contact blank", jansen, jansen + "    contact: \"  \"\n", "partners.jansen.contact: must not be blank"},
		{"contact two lines", jansen, jansen + "    contact: \"a\\nb\"\n", "partners.jansen.contact: must be one line"},
		{"contact long", jansen, jansen + "    contact: " + strings.Repeat("x", 501) + "\n", "partners.jansen.contact: at most 500 characters"},
		{"transfer unknown key", jansen, jansen + "    country: US\n    transfer: {basis: scc, reference: x, signed: 2026}\n",
			"partners.jansen.transfer.signed: unknown key"},
		{"purpose", "  handover:\n", "  handover:\n    purpose: Handing claims over to the bailiff\n", ""},
		{"purpose control", "  handover:\n", "  handover:\n    purpose: \"a\\tb\"\n", "jobs.handover.purpose: must be one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(baseYAML, tc.old, tc.nu, 1)
			if y == baseYAML {
				t.Fatal("replacement did not apply")
			}
			c, err := parseString(t, y)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want ok, got %v", err)
				}
				if c.Jobs["handover"] == nil || c.Partners["jansen"] == nil {
					t.Fatal("parsed config lacks its jobs or partners")
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
}

func TestCountryCode(t *testing.T) {
	setTestEnv(t)
	y := strings.Replace(baseYAML, "  jansen:\n    role: bailiff\n",
		"  jansen:\n    role: bailiff\n    country: US\n    contact: privacy@jansen.example\n    transfer: {basis: adequacy, reference: \"Decision (EU) 2023/1795\"}\n", 1)
	y = strings.Replace(y, "  handover:\n", "  handover:\n    purpose: Handover to the bailiff\n", 1)
	c := mustParse(t, y)
	if code, assumed := c.Partners["jansen"].CountryCode(); code != "US" || assumed {
		t.Errorf("jansen: %s assumed=%v, want US stated", code, assumed)
	}
	if code, assumed := c.Partners["acme"].CountryCode(); code != DefaultCountry || !assumed {
		t.Errorf("acme: %s assumed=%v, want %s assumed", code, assumed, DefaultCountry)
	}
	j := c.Partners["jansen"]
	if j.Contact != "privacy@jansen.example" || j.Transfer == nil || *j.Transfer != (Transfer{TransferAdequacy, "Decision (EU) 2023/1795"}) {
		t.Errorf("jansen: %+v %+v", j, j.Transfer)
	}
	if got := c.Jobs["handover"].Purpose; got != "Handover to the bailiff" {
		t.Errorf("purpose %q", got)
	}
}

// The EEA table: 27 EU member states and 3 EEA states, each a valid code.
func TestEEA(t *testing.T) {
	if len(eea) != 30 {
		t.Errorf("%d EEA states, want 30", len(eea))
	}
	for _, c := range eea {
		if !validCountry(c) {
			t.Errorf("EEA state %s is not a valid country code", c)
		}
	}
	for _, c := range []string{"US", "GB", "CH", "TR"} {
		if InEEA(c) {
			t.Errorf("%s in the EEA", c)
		}
	}
}
