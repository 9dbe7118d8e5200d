package config

import (
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/exchanged/exchanged/schedule"
)

// nameRE is what a partner, job or layout name may be: it shows up in
// field paths, log fields, metric labels and the /jobs/NAME/run URL.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// fieldRE is what a canonical field name looks like (layout column targets).
var fieldRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// problems collects FieldErrors.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks c as a whole and returns every problem found, joined
// with errors.Join, each a *FieldError naming its field
// ("jobs.acme-in.source.partner: no partner \"acme\""), or nil. It does not
// fill defaults (Parse does) and touches no file, variable or endpoint; it
// reads map keys, not the Name fields.
func (c *Config) Validate() error {
	var p problems
	switch c.Version {
	case Version:
	case 0:
		p.add("version", "required; this build reads format version %d", Version)
	default:
		p = append(p, &FieldError{Path: "version", Err: ErrVersion,
			Msg: fmt.Sprintf("this build reads format version %d only", Version)})
	}
	switch c.Timezone {
	case "":
		p.add("timezone", "must not be empty (default %s)", DefaultTimezone)
	case "Local":
		p.add("timezone", "name a zone such as %s; Local depends on the host", DefaultTimezone)
	default:
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			p.add("timezone", "unknown time zone %q", c.Timezone)
		}
	}
	var loc *time.Location // nil: schedule's default zone, the same as ours
	if l, err := time.LoadLocation(c.Timezone); err == nil && c.Timezone != "" && c.Timezone != "Local" {
		loc = l
	}
	p.dir("state_dir", c.StateDir, true)
	switch c.Log.Level {
	case "debug", "info", "warn", "error": // LogLevels
	default:
		p.add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console", "journald": // LogFormats
	default:
		p.add("log.format", "must be json, console or journald, not %q", c.Log.Format)
	}
	if c.HTTP.Listen != nil && *c.HTTP.Listen != "" {
		if _, port, err := net.SplitHostPort(*c.HTTP.Listen); err != nil {
			p.add("http.listen", `must be host:port, e.g. "127.0.0.1:9464", or "" for off`)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			p.add("http.listen", "port must be a number in 1..65535")
		}
	}
	for i, h := range c.HTTP.Hosts {
		if msg := checkHostName(h); msg != "" {
			p.add(fmt.Sprintf("http.hosts[%d]", i), "%s", msg)
		}
	}
	c.Runs.validate(&p)
	c.Retention.validate(&p)
	c.Ledger.validate(&p)
	c.validateCluster(&p)
	for _, name := range sortedKeys(c.Partners) {
		c.validatePartner(&p, name, c.Partners[name])
	}
	c.validateLayouts(&p)
	sources := make(map[string]string) // partner\x00dir\x00match -> job
	for _, name := range sortedKeys(c.Jobs) {
		j := c.Jobs[name]
		c.validateJob(&p, name, j, loc)
		if j == nil {
			continue
		}
		s := j.Source
		key := s.Partner + "\x00" + s.Dir + "\x00" + s.Match
		if other, ok := sources[key]; ok && s.Partner != "" {
			p.add("jobs."+name+".source", "same partner, dir and match as job %q: the two would race for its files", other)
		} else {
			sources[key] = name
		}
	}
	return errors.Join(p...)
}

func checkName(p *problems, at, name string) {
	if !nameRE.MatchString(name) {
		p.add(at, "name must be 1-64 letters, digits, '-' or '_', starting with a letter or digit")
	}
}

// isCleanAbs reports whether p passes dir: absolute, clean, no control
// characters.
func isCleanAbs(p string) bool {
	return strings.HasPrefix(p, "/") && !hasControl(p) && !hasDotDot(p) && path.Clean(p) == p
}

// dir checks an absolute, clean directory path.
func (p *problems) dir(at, dir string, required bool) {
	switch {
	case dir == "":
		if required {
			p.add(at, "required")
		}
	case hasControl(dir):
		p.add(at, "must not contain control characters")
	case !strings.HasPrefix(dir, "/"):
		p.add(at, "must be an absolute path (starting with /)")
	case hasDotDot(dir):
		p.add(at, `must not contain ".."`)
	case path.Clean(dir) != dir:
		p.add(at, "must be a clean path: write %q", path.Clean(dir))
	}
}

func hasDotDot(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

// marker checks a done-marker suffix such as ".done".
func (p *problems) marker(at, m string) {
	if m == "" {
		return
	}
	if !strings.HasPrefix(m, ".") || len(m) < 2 || m == ".." || strings.Contains(m, "/") || hasControl(m) {
		p.add(at, `must be a suffix starting with "." and without "/", e.g. ".done"`)
	}
}

// upload checks a destination's delivery mode ("" is the default).
func (p *problems) upload(at, mode string) {
	if mode != "" && mode != UploadTemp && mode != UploadDirect {
		p.add(at, "must be temp or direct, not %q", mode)
	}
}

func (c *Config) validatePartner(p *problems, name string, pt *Partner) {
	at := "partners." + name
	checkName(p, at, name)
	if pt == nil {
		p.add(at, "empty; set role and sftp or local")
		return
	}
	switch pt.Role {
	case RoleCreditor, RoleBailiff, RoleLawyer, RoleInternal:
	case "":
		p.add(at+".role", "required: creditor, bailiff, lawyer or internal")
	default:
		p.add(at+".role", "must be creditor, bailiff, lawyer or internal, not %q", pt.Role)
	}
	validatePrivacy(p, at, pt)
	switch {
	case pt.SFTP != nil && pt.Local != nil:
		p.add(at, "set one of sftp and local, not both")
	case pt.SFTP == nil && pt.Local == nil:
		p.add(at, "set one of sftp and local")
	}
	if pt.Local != nil {
		p.dir(at+".local.root", pt.Local.Root, true)
	}
	if s := pt.SFTP; s != nil {
		at := at + ".sftp"
		switch {
		case s.Host == "":
			p.add(at+".host", "required")
		case hasControl(s.Host) || strings.ContainsAny(s.Host, " /@"):
			p.add(at+".host", "must be a host name or IP address only (put the port in port:)")
		}
		if s.Port < 1 || s.Port > 65535 {
			p.add(at+".port", "must be in 1..65535")
		}
		if s.User == "" {
			p.add(at+".user", "required")
		}
		switch {
		case s.PrivateKey.IsSet() && s.Password.IsSet():
			p.add(at, "set one of private_key and password, not both")
		case !s.PrivateKey.IsSet() && !s.Password.IsSet():
			p.add(at, "set private_key or password")
		}
		if s.Passphrase.IsSet() && !s.PrivateKey.IsSet() {
			p.add(at+".passphrase", "only with private_key")
		}
		for _, sec := range []struct {
			key string
			s   Secret
		}{{"private_key", s.PrivateKey}, {"passphrase", s.Passphrase}, {"password", s.Password}} {
			if sec.s.IsSet() {
				if _, _, err := parseRef(sec.s.Ref); err != nil {
					p.add(at+"."+sec.key, "%v", err)
				}
			}
		}
		switch {
		case s.KnownHosts != "" && s.HostKey != "":
			p.add(at, "set one of known_hosts and host_key, not both")
		case s.KnownHosts == "" && s.HostKey == "":
			p.add(at, "set known_hosts or host_key: an unknown server is never trusted")
		}
		if s.KnownHosts != "" {
			p.dir(at+".known_hosts", s.KnownHosts, true)
		}
		if s.HostKey != "" {
			if _, err := ParseHostKey(s.HostKey); err != nil {
				p.add(at+".host_key", `must be "SHA256:" and 43 characters of unpadded base64 as ssh-keygen -lf prints, `+
					`optionally after the key type as ssh -v prints ("ssh-ed25519 SHA256:..."), or a public key line: %v`, err)
			}
		}
		if s.Timeout <= 0 {
			p.add(at+".timeout", "must be positive")
		}
		if s.KeepAlive < 0 {
			p.add(at+".keepalive", "must not be negative (0s turns keep-alives off)")
		}
		if s.MaxConns < 1 {
			p.add(at+".max_conns", "must be at least 1")
		}
	}
}

func (c *Config) validateJob(p *problems, name string, j *Job, loc *time.Location) {
	at := "jobs." + name
	checkName(p, at, name)
	if j == nil {
		p.add(at, "empty; set schedule, source and destinations")
		return
	}
	validatePurpose(p, at, j)
	if strings.TrimSpace(j.Schedule) == "" {
		p.add(at+".schedule", `required, e.g. "*/15 7-19 * * 1-5" or "@every 10m"`)
	} else if _, err := schedule.ParseSpec(j.Schedule, loc); err != nil {
		// The scheduler's own parser, so that what passes here runs;
		// unwrapped from its "schedule: spec %q:" prefix.
		if u := errors.Unwrap(err); u != nil {
			err = u
		}
		p.add(at+".schedule", "%v", err)
	}
	j.Expect.validate(p, at+".expect", j.Schedule, loc)

	// Source.
	s := j.Source
	sat := at + ".source"
	src := c.partnerRef(p, sat+".partner", s.Partner)
	p.dir(sat+".dir", s.Dir, true)
	switch {
	case s.Match == "":
		p.add(sat+".match", `must not be empty (default "*")`)
	case strings.Contains(s.Match, "/"):
		p.add(sat+".match", `is a file name pattern; it must not contain "/"`)
	default:
		if _, err := path.Match(s.Match, ""); err != nil {
			p.add(sat+".match", "invalid pattern %q (path.Match syntax: * ? [a-z])", s.Match)
		}
	}
	switch {
	case s.Settle != nil && s.DoneMarker != "":
		p.add(sat, "set settle or done_marker, not both")
	case s.Settle == nil && s.DoneMarker == "":
		p.add(sat, "set settle or done_marker: a file still being written must be left alone")
	case s.Settle != nil && *s.Settle <= 0:
		p.add(sat+".settle", "must be positive: a file still being written must be left alone")
	}
	p.marker(sat+".done_marker", s.DoneMarker)
	if s.PGP != nil {
		s.PGP.validate(p, sat+".pgp")
	}
	switch {
	case s.After == AfterDelete || s.After == AfterKeep:
	case strings.HasPrefix(s.After, "move:"):
		mv := s.After[len("move:"):]
		if mv == "" {
			p.add(sat+".after", "move: needs a directory, e.g. move:/outbox/processed")
		} else {
			p.dir(sat+".after", mv, true)
			if mv == s.Dir {
				p.add(sat+".after", "moves files into the source dir itself; name another dir")
			}
		}
	default:
		p.add(sat+".after", "must be delete, keep or move:/dir")
	}

	// Transform.
	t := j.Transform
	if t != nil {
		tat := at + ".transform"
		switch {
		case t.Layout == "":
			p.add(tat+".layout", "required: a name under layouts:, or claim, payment or status")
		case IsBuiltinLayout(t.Layout):
		case c.Layouts[t.Layout] == nil:
			p.add(tat+".layout", "no layout %q (define it under layouts:, or use claim, payment or status)", t.Layout)
		}
		if t.Profile != "" && !isProfile(t.Profile) {
			p.add(tat+".profile", "must be internal, bailiff, lawyer, creditor-status or creditor-payment, not %q", t.Profile)
		}
	}

	// Destinations.
	if len(j.Destinations) == 0 {
		p.add(at+".destinations", "at least one destination")
	}
	seen := make(map[[2]string]int)
	for i, d := range j.Destinations {
		dat := fmt.Sprintf("%s.destinations[%d]", at, i)
		if d == nil {
			p.add(dat, "empty; set partner and dir")
			continue
		}
		dst := c.partnerRef(p, dat+".partner", d.Partner)
		p.dir(dat+".dir", d.Dir, true)
		p.marker(dat+".done_marker", d.DoneMarker)
		p.upload(dat+".upload", d.Upload)
		if d.PGP != nil {
			d.PGP.validate(p, dat+".pgp")
		}
		if d.Partner == s.Partner && d.Dir == s.Dir && d.Dir != "" {
			p.add(dat, "same partner and dir as the source: a loop")
		}
		k := [2]string{d.Partner, d.Dir}
		if first, dup := seen[k]; dup {
			p.add(dat, "same partner and dir as destinations[%d]: the file would be delivered twice", first)
		} else {
			seen[k] = i
		}
		if d.Profile != "" {
			if t == nil {
				p.add(dat+".profile", "only with a transform; a job without one passes files unchanged")
			} else if !isProfile(d.Profile) {
				p.add(dat+".profile", "must be internal, bailiff, lawyer, creditor-status or creditor-payment, not %q", d.Profile)
			}
		}
		if d.Format != nil {
			if t == nil {
				p.add(dat+".format", "only with a transform; a job without one passes files unchanged")
			} else {
				p.format(dat+".format", d.Format)
			}
		}
		if dst == nil {
			continue
		}
		// The privacy rules: who may receive what.
		if t == nil {
			if dst.Role == RoleBailiff || dst.Role == RoleLawyer {
				p.add(dat+".partner", "a %s receives only profiled files; set transform", dst.Role)
			}
		} else {
			prof := c.ProfileFor(j, d)
			switch {
			case prof == "":
				p.add(dat+".profile", "no profile: set transform.profile or this destination's profile")
			case isProfile(prof) && !RolePermits(dst.Role, prof):
				p.add(dat+".partner", "%s %q may not receive profile %q (%s)", dst.Role, d.Partner, prof, permitted(dst.Role))
			}
		}
		if src != nil && src.Role == RoleCreditor && dst.Role == RoleCreditor && d.Partner != s.Partner {
			p.add(dat+".partner", "creditor %q may not receive files from another creditor (%q)", d.Partner, s.Partner)
		}
	}

	// Rejects.
	if r := j.Rejects; r != nil {
		rat := at + ".rejects"
		if t == nil {
			p.add(rat, "only with a transform: rejects are rows it refuses")
		}
		if rp := c.partnerRef(p, rat+".partner", r.Partner); rp != nil && r.Partner != s.Partner && rp.Role != RoleInternal {
			p.add(rat+".partner", "reject reports go to the source partner (%q) or an internal partner, not %q", s.Partner, r.Partner)
		}
		p.dir(rat+".dir", r.Dir, true)
		p.marker(rat+".done_marker", r.DoneMarker)
		p.upload(rat+".upload", r.Upload)
		if r.Profile != "" {
			p.add(rat+".profile", "not used: a reject report has its own fields")
		}
		if r.PGP != nil {
			p.add(rat+".pgp", "not supported on reject reports")
		}
		if r.Partner == s.Partner && r.Dir == s.Dir && r.Dir != "" {
			p.add(rat, "same partner and dir as the source: a loop")
		}
	}
}

// partnerRef checks a reference to a partner and returns it, or nil.
func (c *Config) partnerRef(p *problems, at, name string) *Partner {
	if name == "" {
		p.add(at, "required")
		return nil
	}
	pt := c.Partners[name]
	if pt == nil {
		p.add(at, "no partner %q", name)
	}
	return pt
}

// permitted says which profiles role may receive, for an error message.
func permitted(role string) string {
	ps := roleProfiles[role]
	if len(ps) == 0 || role == RoleInternal {
		return "role " + strconv.Quote(role)
	}
	q := make([]string, len(ps))
	for i, p := range ps {
		q[i] = strconv.Quote(p)
	}
	return fmt.Sprintf("a %s receives only %s", role, strings.Join(q, " or "))
}

// refDate is a date whose day, month and year are all distinct, to check
// that a layout's date format keeps each of them.
var refDate = time.Date(2031, time.December, 25, 0, 0, 0, 0, time.UTC)

// keepsDate reports whether the Go date layout writes refDate, and a birth
// date of the last century, as text it reads back as the same date: a
// two-digit year ("02-01-06") reads 1950 as 2050.
func keepsDate(layout string) bool {
	for _, want := range []time.Time{refDate, time.Date(1950, time.March, 1, 0, 0, 0, 0, time.UTC)} {
		if d, err := time.Parse(layout, want.Format(layout)); err != nil || !d.Equal(want) {
			return false
		}
	}
	return true
}

// validateLayoutCreditor checks that a layout's creditor names a partner
// whose role is creditor: the pseudonyms of its rows are keyed on it.
func (c *Config) validateLayoutCreditor(p *problems, name string, l *Layout) {
	if l == nil || l.Creditor == "" {
		return
	}
	at := "layouts." + name + ".creditor"
	switch pt := c.Partners[l.Creditor]; {
	case pt == nil:
		p.add(at, "no partner %q", l.Creditor)
	case pt.Role != RoleCreditor:
		p.add(at, "partner %q is a %s, not a creditor", l.Creditor, pt.Role)
	}
}

func validateLayout(p *problems, name string, l *Layout) {
	at := "layouts." + name
	checkName(p, at, name)
	if IsBuiltinLayout(name) {
		p.add(at, "name is reserved for the built-in %s layout", name)
	}
	if l == nil {
		p.add(at, "empty; set record and columns")
		return
	}
	switch l.Record {
	case RecordClaim, RecordPayment, RecordStatus:
	case "":
		p.add(at+".record", "required: claim, payment or status")
	default:
		p.add(at+".record", "must be claim, payment or status, not %q", l.Record)
	}
	switch l.Delimiter {
	case ";", ",", "\t", "":
	default:
		p.add(at+".delimiter", `must be ";", ",", "\t" or "" (detect), not %q`, l.Delimiter)
	}
	switch l.Charset {
	case CharsetUTF8, CharsetWindows1252:
	default:
		p.add(at+".charset", "must be utf-8 or windows-1252, not %q", l.Charset)
	}
	switch l.Decimal {
	case ",", ".":
	default:
		p.add(at+".decimal", `must be "," or ".", not %q`, l.Decimal)
	}
	if l.Date == "" {
		p.add(at+".date", "must not be empty (default %q)", DefaultDateLayout)
	} else if !keepsDate(l.Date) {
		p.add(at+".date", "%q is not a Go date layout that keeps day, month and year, the century too (e.g. \"02-01-2006\" for 25-12-2031)", l.Date)
	}
	if len(l.Columns) == 0 {
		p.add(at+".columns", "at least one column: CSV header -> canonical field")
	}
	targets := make(map[string]string)
	for _, header := range sortedKeys(l.Columns) {
		target := l.Columns[header]
		cat := at + ".columns." + header
		if strings.TrimSpace(header) == "" {
			cat = at + ".columns"
			p.add(cat, "a column header must not be empty")
		}
		if !fieldRE.MatchString(target) {
			p.add(cat, "target must be a canonical field name (lower case, digits, '_')")
			continue
		}
		if other, dup := targets[target]; dup {
			p.add(cat, "target %q is also the target of column %q", target, other)
			continue
		}
		targets[target] = header
	}
	seen := make(map[string]bool)
	for i, r := range l.Required {
		rat := fmt.Sprintf("%s.required[%d]", at, i)
		switch {
		case seen[r]:
			p.add(rat, "%q is listed twice", r)
		case targets[r] == "":
			p.add(rat, "%q is not the target of any column", r)
		}
		seen[r] = true
	}
}

// format checks a destination's output format.
func (p *problems) format(at string, f *Format) {
	switch f.Delimiter {
	case ";", ",", "\t", "|", "":
	default:
		p.add(at+".delimiter", `must be ";", ",", "\t" or "|", not %q`, f.Delimiter)
	}
	switch f.Charset {
	case CharsetUTF8, "utf-8-bom", CharsetWindows1252, "":
	default:
		p.add(at+".charset", "must be utf-8, utf-8-bom or windows-1252, not %q", f.Charset)
	}
	switch f.Decimal {
	case ",", ".", "":
	default:
		p.add(at+".decimal", `must be "," or ".", not %q`, f.Decimal)
	}
	if f.Date != "" {
		if !keepsDate(f.Date) {
			p.add(at+".date", "%q is not a Go date layout that keeps day, month and year, the century too (e.g. \"02-01-2006\" for 25-12-2031)", f.Date)
		}
	}
	written := make(map[string]string)
	for _, field := range sortedKeys(f.Headers) {
		h := f.Headers[field]
		hat := at + ".headers." + field
		switch {
		case !fieldRE.MatchString(field):
			p.add(hat, "must be a canonical field name (lower case, digits, '_')")
		case strings.TrimSpace(h) == "":
			p.add(hat, "the header written must not be empty")
		case written[h] != "":
			p.add(hat, "header %q is also written for %q", h, written[h])
		default:
			written[h] = field
		}
	}
}

// checkHostName returns why h is not a DNS host name as http.hosts takes
// it (letters, digits and hyphens in dot-separated labels of at most 63,
// at most 253 in all, no port), or "" if it is one.
func checkHostName(h string) string {
	switch {
	case h == "":
		return "must not be empty"
	case net.ParseIP(h) != nil:
		return "an IP address is always allowed; list host names only"
	case strings.Contains(h, ":"):
		return "a host name without a port"
	case len(h) > 253:
		return "at most 253 characters"
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.ContainsFunc(label, func(r rune) bool {
				return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-')
			}) {
			return fmt.Sprintf("%q is not a host name: dot-separated labels of 1-63 letters, digits or -", h)
		}
	}
	return ""
}
