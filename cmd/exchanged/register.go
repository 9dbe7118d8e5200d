package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/transform"
)

// RegisterCommand prints the register of processing (AVG/GDPR art. 30)
// that a config describes: per job its purpose, data subjects, categories
// of personal data and recipients; transfers outside the EU/EEA; retention
// periods; the technical measures in force. It reads the config only,
// never the ledger, so it prints no personal data of a debtor; it prints
// no secret (a secret reference is not even named).
type RegisterCommand struct {
	stdout io.Writer
}

// Run loads and validates the file of --config, as config validate does,
// and prints its register as Markdown, or as JSON with --json. A file that
// does not load or validate is an error matching errConfig.
func (c *RegisterCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.SetOutput(c.stdout)
	path := fs.String("config", "", "config file")
	asJSON := fs.Bool("json", false, "print JSON instead of Markdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	reg, err := buildRegister(cfg, *path)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(reg)
	}
	return writeRegisterMarkdown(c.stdout, reg)
}

// Register is the processing register of one config: what --json prints.
type Register struct {
	Config     string      `json:"config"` // the config file it was read from
	Activities []Activity  `json:"activities"`
	Recipients []Party     `json:"recipients"` // every partner, by name
	Transfers  []Transfer  `json:"transfers"`  // partners outside the EU/EEA
	Retention  []Retention `json:"retention"`
	Measures   []Measure   `json:"measures"`
	Warnings   []string    `json:"warnings"` // what the config leaves unstated, naming the key to set
}

// Activity is one job: one processing activity of the register.
type Activity struct {
	Job      string `json:"job"`
	Purpose  string `json:"purpose"` // "" when the config states none (see Warnings)
	Schedule string `json:"schedule"`
	Source   Party  `json:"source"`
	// Subjects is the category of data subjects. Record is the canonical
	// record the job reads (claim, payment, status), or "" for a job that
	// passes files unchanged without reading them (ContentsRead false).
	Subjects     string `json:"subjects"`
	Record       string `json:"record"`
	ContentsRead bool   `json:"contents_read"`
	// Read is the personal data the job reads: the canonical fields its
	// layout maps (every field of the record for a built-in layout).
	Read       Data         `json:"read"`
	Recipients []Disclosure `json:"recipients"`
}

// Data is a set of personal data: its categories (transform.Categories)
// and canonical fields, in the record's column order.
type Data struct {
	Categories []string `json:"categories"`
	Fields     []string `json:"fields"`
}

// Party is a partner as the register names it.
type Party struct {
	Partner        string `json:"partner"`
	Role           string `json:"role"`
	Country        string `json:"country"`
	CountryAssumed bool   `json:"country_assumed"` // country: not set; config.DefaultCountry taken
	InEEA          bool   `json:"in_eea"`
	Contact        string `json:"contact"`
}

// Disclosure is one recipient of a job's files: a destination, or the
// recipient of its reject reports.
type Disclosure struct {
	Party
	Kind    string `json:"kind"`    // "delivery" or "reject report"
	Profile string `json:"profile"` // "" for unchanged files and reject reports
	Data    Data   `json:"data"`    // empty when the contents are not read
}

// Transfer is a partner outside the EU/EEA and the basis of transfers to it.
type Transfer struct {
	Partner   string   `json:"partner"`
	Country   string   `json:"country"`
	Basis     string   `json:"basis"` // adequacy | scc
	Reference string   `json:"reference"`
	Jobs      []string `json:"jobs"` // the jobs that send it files
}

// Retention is how long one kind of record is kept.
type Retention struct {
	Records string `json:"records"`
	Period  string `json:"period"`
	Basis   string `json:"basis"`
	Source  string `json:"source"` // "config" or "default"
}

// Measure is one technical measure, in force or not.
type Measure struct {
	Measure   string `json:"measure"`
	AppliesTo string `json:"applies_to"` // a partner, or "all"
	InForce   bool   `json:"in_force"`
	Detail    string `json:"detail"`
}

// Kinds of Disclosure.
const (
	kindDelivery = "delivery"
	kindRejects  = "reject report"
)

// subjectsOf describes the data subjects of each canonical record.
var subjectsOf = map[string]string{
	config.RecordClaim:   "debtors of the creditors' claims",
	config.RecordPayment: "debtors who paid on a claim",
	config.RecordStatus:  "debtors whose case status is reported",
}

// rejectFields are the personal data of a reject report: its columns are
// line, reference, column and reason, and the reference is the row's
// creditor_ref (see transform.Process).
var rejectFields = []string{"creditor_ref"}

// buildRegister makes the register of cfg, a validated config read from path.
func buildRegister(cfg *config.Config, path string) (*Register, error) {
	r := &Register{Config: path, Activities: []Activity{}, Recipients: []Party{}, Transfers: []Transfer{},
		Warnings: []string{}}
	sends := make(map[string][]string) // partner -> jobs that send it files
	for _, name := range slices.Sorted(maps.Keys(cfg.Jobs)) {
		a, err := activity(cfg, name, cfg.Jobs[name])
		if err != nil {
			return nil, err
		}
		if a.Purpose == "" {
			r.Warnings = append(r.Warnings, fmt.Sprintf("jobs.%s: no purpose stated; set jobs.%s.purpose", name, name))
		}
		if !a.ContentsRead {
			r.Warnings = append(r.Warnings, fmt.Sprintf("jobs.%s: files pass unchanged and are not read; "+
				"the categories of personal data they hold are not known to exchanged", name))
		}
		for _, d := range a.Recipients {
			if !slices.Contains(sends[d.Partner], name) {
				sends[d.Partner] = append(sends[d.Partner], name)
			}
		}
		r.Activities = append(r.Activities, a)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Partners)) {
		pt := cfg.Partners[name]
		p := party(cfg, name)
		r.Recipients = append(r.Recipients, p)
		if p.CountryAssumed {
			r.Warnings = append(r.Warnings, fmt.Sprintf("partners.%s: country not stated; %s assumed; set partners.%s.country",
				name, p.Country, name))
		}
		if p.Contact == "" && pt.Role != config.RoleInternal && len(sends[name]) > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("partners.%s: no contact to notify of a rectification or erasure (art. 19); "+
				"set partners.%s.contact", name, name))
		}
		if !p.InEEA && pt.Transfer != nil {
			r.Transfers = append(r.Transfers, Transfer{Partner: name, Country: p.Country, Basis: pt.Transfer.Basis,
				Reference: pt.Transfer.Reference, Jobs: append([]string{}, sends[name]...)})
		}
	}
	r.Retention = retentionPeriods(cfg)
	r.Measures = measures(cfg)
	return r, nil
}

// party describes partner name of cfg.
func party(cfg *config.Config, name string) Party {
	pt := cfg.Partners[name]
	country, assumed := pt.CountryCode()
	return Party{Partner: name, Role: pt.Role, Country: country, CountryAssumed: assumed,
		InEEA: config.InEEA(country), Contact: pt.Contact}
}

// activity describes job j, called name, of cfg.
func activity(cfg *config.Config, name string, j *config.Job) (Activity, error) {
	a := Activity{Job: name, Purpose: j.Purpose, Schedule: j.Schedule, Source: party(cfg, j.Source.Partner),
		Subjects: "debtors (presumed: the files are not read)", Read: emptyData(), Recipients: []Disclosure{}}
	if j.Transform == nil {
		for _, d := range j.Destinations {
			a.Recipients = append(a.Recipients, Disclosure{Party: party(cfg, d.Partner), Kind: kindDelivery, Data: emptyData()})
		}
		return a, nil
	}
	l, err := exchange.LayoutFor(cfg, j.Transform.Layout)
	if err != nil {
		return a, fmt.Errorf("jobs.%s.transform.layout: %w", name, err)
	}
	a.Record, a.ContentsRead, a.Subjects = l.Record, true, subjectsOf[l.Record]
	read := transform.Fields(l.Record) // a built-in layout: headers are canonical, any may be there
	if l.Columns != nil {
		mapped := slices.Collect(maps.Values(l.Columns))
		read = slices.DeleteFunc(read, func(f string) bool { return !slices.Contains(mapped, f) })
	}
	a.Read = dataOf(read)
	for i, d := range j.Destinations {
		prof := cfg.ProfileFor(j, d)
		p, err := transform.BuiltinProfile(prof)
		if err != nil {
			return a, fmt.Errorf("jobs.%s.destinations[%d]: %w", name, i, err)
		}
		sent := slices.DeleteFunc(slices.Clone(read), func(f string) bool { return !slices.Contains(p.Fields, f) })
		a.Recipients = append(a.Recipients, Disclosure{Party: party(cfg, d.Partner), Kind: kindDelivery, Profile: prof, Data: dataOf(sent)})
	}
	if rj := j.Rejects; rj != nil {
		a.Recipients = append(a.Recipients, Disclosure{Party: party(cfg, rj.Partner), Kind: kindRejects, Data: dataOf(rejectFields)})
	}
	return a, nil
}

func emptyData() Data { return Data{Categories: []string{}, Fields: []string{}} }

// dataOf returns fields with their categories, in transform.Categories order.
func dataOf(fields []string) Data {
	d := Data{Categories: []string{}, Fields: append([]string{}, fields...)}
	for _, c := range transform.Categories {
		if slices.ContainsFunc(fields, func(f string) bool { return transform.Category(f) == c }) {
			d.Categories = append(d.Categories, c)
		}
	}
	return d
}

// retentionPeriods returns how long each kind of record is kept. This
// build has no retention: block, so these are the documented defaults of
// issue 11; the retention block replaces this function's body with its
// values (Source "config").
func retentionPeriods(cfg *config.Config) []Retention {
	r := cfg.Retention
	def := config.DefaultRetention()
	source := func(p, d config.Period) string {
		if p == "" || p == d {
			return "default"
		}
		return "config"
	}
	or := func(p, d config.Period) config.Period {
		if p == "" {
			return d
		}
		return p
	}
	return []Retention{
		{Records: "delivered files and their disclosures (ledger: metadata and keyed pseudonyms, no file contents)",
			Period: periodText(or(r.Files, def.Files)), Basis: "fiscal record keeping, AWR art. 52 (retention.files)",
			Source: source(r.Files, def.Files)},
		{Records: "run history (ledger: times, counts, outcomes)", Period: periodText(or(r.Runs, def.Runs)),
			Basis: "operations; holds no personal data (retention.runs)", Source: source(r.Runs, def.Runs)},
		{Records: "staged file contents (state_dir/staging)", Period: "until delivered to every destination",
			Basis:  "storage limitation, art. 5(1)(e); an undeliverable file is kept and alerted on until retried or abandoned",
			Source: "default"},
	}
}

// periodText writes a retention period ("7y", "18m", "13w", "90d") in words.
func periodText(p config.Period) string {
	s := string(p)
	if len(s) < 2 {
		return s
	}
	n, unit := s[:len(s)-1], map[byte]string{'y': "year", 'm': "month", 'w': "week", 'd': "day"}[s[len(s)-1]]
	if unit == "" {
		return s
	}
	if n != "1" {
		unit += "s"
	}
	return n + " " + unit
}

// measures lists the technical measures of cfg: per partner, how its
// server is authenticated and what protects data in transit; for all,
// staging, minimization and logging.
func measures(cfg *config.Config) []Measure {
	var ms []Measure
	for _, name := range slices.Sorted(maps.Keys(cfg.Partners)) {
		pt := cfg.Partners[name]
		if s := pt.SFTP; s != nil {
			auth := "known_hosts file " + s.KnownHosts
			if s.HostKey != "" {
				auth = "pinned host key"
				if pin, err := config.ParseHostKey(s.HostKey); err == nil {
					auth += " " + pin.Fingerprint
				}
			}
			ms = append(ms,
				Measure{Measure: "server authentication", AppliesTo: name, InForce: true,
					Detail: auth + "; an unknown or changed key refuses the connection and is logged as a security event"},
				Measure{Measure: "encryption in transit", AppliesTo: name, InForce: true, Detail: "SSH (SFTP)"})
		} else if pt.Local != nil {
			ms = append(ms, Measure{Measure: "encryption in transit", AppliesTo: name, InForce: true,
				Detail: "not needed: a local directory on the agency's own host, no network transfer"})
		}
	}
	atRest := "AES-256-GCM (DARE 2.0, authenticated 64 KiB packages, a key per file derived with HKDF-SHA256) under the key that staging.key names (" + cfg.Staging.Key.Ref + ")"
	if !cfg.Staging.Key.IsSet() {
		atRest = "AES-256-GCM (DARE 2.0, authenticated 64 KiB packages, a key per file derived with HKDF-SHA256) under a key generated into state_dir/staging.key: a backup of state_dir holds key and data together; set staging.key to keep the key in a secret store"
	}
	return append(ms,
		Measure{Measure: "staging permissions", AppliesTo: "all", InForce: true,
			Detail: "state_dir/staging: directories 0700, files 0600; a file is removed once delivered to every destination"},
		Measure{Measure: "encryption at rest (staging)", AppliesTo: "all", InForce: true, Detail: atRest},
		Measure{Measure: "end-to-end encryption (OpenPGP)", AppliesTo: "all", InForce: false, Detail: "not configured"},
		Measure{Measure: "data minimization", AppliesTo: "all", InForce: true,
			Detail: "each recipient receives only its profile's fields, and a role only the profiles it may; a file carrying a BSN is refused (UAVG art. 46)"},
		Measure{Measure: "pseudonymized ledger", AppliesTo: "all", InForce: true,
			Detail: "data subjects are recorded as keyed pseudonyms, never by reference or name"},
		Measure{Measure: "logs without personal data", AppliesTo: "all", InForce: true,
			Detail: "files are logged by partner, job, name, size, row counts and sha256"},
		Measure{Measure: "credentials", AppliesTo: "all", InForce: true,
			Detail: "passwords and keys are read from environment variables or files, never written in the config file"},
	)
}
