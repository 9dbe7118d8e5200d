package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// writeRegisterMarkdown writes r as a Markdown document: one section per
// processing activity, then recipients, transfers, retention, measures
// and what the config leaves unstated.
func writeRegisterMarkdown(w io.Writer, r *Register) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("# Register of processing (AVG/GDPR art. 30)\n\n")
	p("Read from the config `%s` (not from the ledger). One processing activity per job.\n", r.Config)

	p("\n## Processing activities\n")
	for _, a := range r.Activities {
		p("\n### %s\n\n", a.Job)
		purpose := md(a.Purpose)
		if a.Purpose == "" {
			purpose = "**not stated** (set `jobs." + a.Job + ".purpose`)"
		}
		p("- **Purpose:** %s\n", purpose)
		p("- **Schedule:** `%s`\n", a.Schedule)
		p("- **Source:** %s\n", partyLine(a.Source))
		if a.ContentsRead {
			p("- **Data subjects:** %s (%s records)\n", a.Subjects, a.Record)
			p("- **Personal data read:** %s\n", dataLine(a.Read))
		} else {
			p("- **Data subjects:** %s\n", a.Subjects)
			p("- **Personal data read:** not read: files pass unchanged\n")
		}
		p("\n| recipient | role | country | contact | receives | profile | categories | fields |\n|---|---|---|---|---|---|---|---|\n")
		for _, d := range a.Recipients {
			cats, fields := strings.Join(d.Data.Categories, ", "), strings.Join(d.Data.Fields, ", ")
			if !a.ContentsRead {
				cats, fields = "not read (files unchanged)", "not read"
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", d.Partner, d.Role, country(d.Party), contact(d.Party),
				d.Kind, orDash(d.Profile), cats, fields)
		}
	}

	p("\n## Recipients\n\n| partner | role | country | EU/EEA | contact |\n|---|---|---|---|---|\n")
	for _, pt := range r.Recipients {
		p("| %s | %s | %s | %s | %s |\n", pt.Partner, pt.Role, country(pt), yesNo(pt.InEEA), contact(pt))
	}

	p("\n## Transfers outside the EU/EEA\n\n")
	if len(r.Transfers) == 0 {
		p("None: every partner is in the EU/EEA.\n")
	} else {
		p("| partner | country | basis | reference | jobs |\n|---|---|---|---|---|\n")
		for _, t := range r.Transfers {
			p("| %s | %s | %s | %s | %s |\n", t.Partner, t.Country, basisName(t.Basis), md(t.Reference), orDash(strings.Join(t.Jobs, ", ")))
		}
	}

	p("\n## Retention periods\n\n| records | kept | basis | set by |\n|---|---|---|---|\n")
	for _, rt := range r.Retention {
		p("| %s | %s | %s | %s |\n", rt.Records, rt.Period, rt.Basis, rt.Source)
	}

	p("\n## Technical measures\n\n| measure | applies to | in force | detail |\n|---|---|---|---|\n")
	for _, m := range r.Measures {
		p("| %s | %s | %s | %s |\n", m.Measure, m.AppliesTo, yesNo(m.InForce), md(m.Detail))
	}

	p("\n## Not stated in the config\n\n")
	if len(r.Warnings) == 0 {
		p("Nothing: every job states its purpose, every partner its country and contact.\n")
	}
	for _, w := range r.Warnings {
		p("- %s\n", md(w))
	}
	return b.Flush()
}

// md escapes what would break a Markdown table cell.
func md(s string) string {
	return strings.NewReplacer(`\`, `\\`, "|", `\|`, "`", "\\`", "<", "&lt;").Replace(s)
}

func partyLine(p Party) string {
	return fmt.Sprintf("%s (%s, %s)", p.Partner, p.Role, country(p))
}

func dataLine(d Data) string {
	return fmt.Sprintf("%s (%s)", strings.Join(d.Categories, ", "), strings.Join(d.Fields, ", "))
}

func country(p Party) string {
	if p.CountryAssumed {
		return p.Country + " (assumed)"
	}
	return p.Country
}

// contact is p's contact for a table cell: "none" when the config gives
// none, "— (the agency's own)" for an internal partner without one.
func contact(p Party) string {
	switch {
	case p.Contact != "":
		return md(p.Contact)
	case p.Role == "internal":
		return "— (the agency's own)"
	}
	return "none"
}

func basisName(b string) string {
	switch b {
	case "adequacy":
		return "adequacy decision (art. 45)"
	case "scc":
		return "standard contractual clauses (art. 46(2)(c))"
	}
	return b
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
