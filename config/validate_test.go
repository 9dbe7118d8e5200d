package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func dur(s string) *Duration {
	d, err := parseDuration(s)
	if err != nil {
		panic(err)
	}
	return &d
}

func str(s string) *string { return &s }

// Each rule of Validate, broken once on a valid config; the error must name
// the field.
func TestValidateRules(t *testing.T) {
	setTestEnv(t)
	type C = Config
	acme := func(c *C) *SFTP { return c.Partners["acme"].SFTP }
	in := func(c *C) *Job { return c.Jobs["acme-in"] }
	ho := func(c *C) *Job { return c.Jobs["handover"] }
	lay := func(c *C) *Layout { return c.Layouts["acme-claims"] }
	for _, tc := range []struct {
		name   string
		mutate func(c *C)
		want   string
	}{
		// Top level.
		{"version 0", func(c *C) { c.Version = 0 }, "version: required"},
		{"version 3", func(c *C) { c.Version = 3 }, "version: this build reads format version 1 only"},
		{"timezone unknown", func(c *C) { c.Timezone = "Europe/Amsterdamm" }, `timezone: unknown time zone "Europe/Amsterdamm"`},
		{"timezone empty", func(c *C) { c.Timezone = "" }, "timezone: must not be empty"},
		{"timezone Local", func(c *C) { c.Timezone = "Local" }, "timezone: name a zone"},
		{"state_dir missing", func(c *C) { c.StateDir = "" }, "state_dir: required"},
		{"state_dir relative", func(c *C) { c.StateDir = "var/lib" }, "state_dir: must be an absolute path"},
		{"state_dir dotdot", func(c *C) { c.StateDir = "/var/../etc" }, `state_dir: must not contain ".."`},
		{"state_dir unclean", func(c *C) { c.StateDir = "/var/lib/exchanged/" }, `state_dir: must be a clean path: write "/var/lib/exchanged"`},
		{"log level", func(c *C) { c.Log.Level = "verbose" }, `log.level: must be debug, info, warn or error, not "verbose"`},
		{"log format", func(c *C) { c.Log.Format = "text" }, "log.format: must be json, console or journald"},
		{"max_concurrent negative", func(c *C) { c.Runs.MaxConcurrent = -1 }, "runs.max_concurrent: must be 0 (no limit) or more"},
		{"jitter negative", func(c *C) { c.Runs.Jitter = Duration(-1) }, "runs.jitter: must not be negative"},
		{"jitter long", func(c *C) { c.Runs.Jitter = *dur("2h") }, "runs.jitter: must be at most 1h"},
		{"alert_after 0", func(c *C) { c.Runs.AlertAfter = 0 }, "runs.alert_after: must be at least 1"},
		{"attempts 0", func(c *C) { c.Runs.Retry.Attempts = 0 }, "runs.retry.attempts: must be at least 1"},
		{"attempts many", func(c *C) { c.Runs.Retry.Attempts = 21 }, "runs.retry.attempts: must be at most 20"},
		{"backoff 0", func(c *C) { c.Runs.Retry.Backoff = 0 }, "runs.retry.backoff: must be positive"},
		{"max_backoff short", func(c *C) { c.Runs.Retry.MaxBackoff = *dur("1s") }, "runs.retry.max_backoff: must be at least runs.retry.backoff"},
		{"listen no port", func(c *C) { c.HTTP.Listen = str("localhost") }, "http.listen: must be host:port"},
		{"listen bad port", func(c *C) { c.HTTP.Listen = str("127.0.0.1:http") }, "http.listen: port must be a number"},
		{"hosts empty", func(c *C) { c.HTTP.Hosts = []string{"ok.internal", ""} }, "http.hosts[1]: must not be empty"},
		{"hosts ip", func(c *C) { c.HTTP.Hosts = []string{"10.0.0.1"} }, "http.hosts[0]: an IP address is always allowed"},
		{"hosts port", func(c *C) { c.HTTP.Hosts = []string{"a.internal:9464"} }, "http.hosts[0]: a host name without a port"},
		{"hosts wildcard", func(c *C) { c.HTTP.Hosts = []string{"*.internal"} }, `http.hosts[0]: "*.internal" is not a host name`},
		{"hosts empty label", func(c *C) { c.HTTP.Hosts = []string{"a..internal"} }, `http.hosts[0]: "a..internal" is not a host name`},
		{"hosts hyphen", func(c *C) { c.HTTP.Hosts = []string{"-a.internal"} }, `http.hosts[0]: "-a.internal" is not a host name`},

		// Partners.
		{"partner name", func(c *C) { c.Partners["a.b"] = c.Partners["other"] }, "partners.a.b: name must be"},
		{"partner nil", func(c *C) { c.Partners["x"] = nil }, "partners.x: empty"},
		{"role missing", func(c *C) { c.Partners["other"].Role = "" }, "partners.other.role: required"},
		{"role unknown", func(c *C) { c.Partners["other"].Role = "debtor" }, `partners.other.role: must be creditor, bailiff, lawyer or internal, not "debtor"`},
		{"sftp and local", func(c *C) { c.Partners["other"].SFTP = acme(c) }, "partners.other: set one of sftp and local, not both"},
		{"neither sftp nor local", func(c *C) { c.Partners["other"].Local = nil }, "partners.other: set one of sftp and local"},
		{"local root relative", func(c *C) { c.Partners["other"].Local.Root = "srv/other" }, "partners.other.local.root: must be an absolute path"},
		{"local root missing", func(c *C) { c.Partners["other"].Local.Root = "" }, "partners.other.local.root: required"},
		{"host missing", func(c *C) { acme(c).Host = "" }, "partners.acme.sftp.host: required"},
		{"host with port", func(c *C) { acme(c).Host = "sftp://x" }, "partners.acme.sftp.host: must be a host name"},
		{"user missing", func(c *C) { acme(c).User = "" }, "partners.acme.sftp.user: required"},
		{"port 0", func(c *C) { acme(c).Port = 0 }, "partners.acme.sftp.port: must be in 1..65535"},
		{"port high", func(c *C) { acme(c).Port = 65536 }, "partners.acme.sftp.port: must be in 1..65535"},
		{"key and password", func(c *C) { acme(c).PrivateKey = Secret{Ref: "env:K"} }, "partners.acme.sftp: set one of private_key and password, not both"},
		{"no auth", func(c *C) { acme(c).Password = Secret{} }, "partners.acme.sftp: set private_key or password"},
		{"passphrase without key", func(c *C) { acme(c).Passphrase = Secret{Ref: "env:P"} }, "partners.acme.sftp.passphrase: only with private_key"},
		{"literal set in code", func(c *C) { acme(c).Password = Secret{Ref: "hunter2"} }, "partners.acme.sftp.password: a literal secret is refused"},
		{"known_hosts and host_key", func(c *C) { acme(c).KnownHosts = "/etc/kh" }, "partners.acme.sftp: set one of known_hosts and host_key, not both"},
		{"no host key", func(c *C) { acme(c).HostKey = "" }, "partners.acme.sftp: set known_hosts or host_key"},
		{"host_key no prefix", func(c *C) { acme(c).HostKey = strings.TrimPrefix(testHostKey, "SHA256:") }, "partners.acme.sftp.host_key: must be \"SHA256:\""},
		{"host_key md5", func(c *C) { acme(c).HostKey = "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48" }, "partners.acme.sftp.host_key:"},
		{"host_key padded", func(c *C) { acme(c).HostKey = testHostKey + "=" }, "partners.acme.sftp.host_key:"},
		{"host_key short", func(c *C) { acme(c).HostKey = "SHA256:AAAA" }, "partners.acme.sftp.host_key:"},
		{"known_hosts relative", func(c *C) {
			c.Partners["jansen"].SFTP.KnownHosts = "known_hosts"
		}, "partners.jansen.sftp.known_hosts: must be an absolute path"},
		{"timeout 0", func(c *C) { acme(c).Timeout = 0 }, "partners.acme.sftp.timeout: must be positive"},
		{"keepalive negative", func(c *C) { acme(c).KeepAlive = -1 }, "partners.acme.sftp.keepalive: must not be negative"},
		{"max_conns 0", func(c *C) { acme(c).MaxConns = 0 }, "partners.acme.sftp.max_conns: must be at least 1"},

		// Jobs: schedule and source.
		{"job name", func(c *C) { c.Jobs["a b"] = in(c) }, "jobs.a b: name must be"},
		{"job nil", func(c *C) { c.Jobs["x"] = nil }, "jobs.x: empty"},
		{"schedule missing", func(c *C) { in(c).Schedule = "" }, "jobs.acme-in.schedule: required"},
		{"schedule bad", func(c *C) { in(c).Schedule = "*/15 7-25 * * 1-5" }, "jobs.acme-in.schedule: "},
		{"schedule six fields", func(c *C) { in(c).Schedule = "0 */15 7-19 * * 1-5" }, "jobs.acme-in.schedule: "},
		{"schedule TZ", func(c *C) { in(c).Schedule = "CRON_TZ=UTC 0 6 * * *" }, "jobs.acme-in.schedule: a time zone prefix is not supported"},
		{"expect by missing", func(c *C) { in(c).Expect = &Expect{Days: "1-5"} }, "jobs.acme-in.expect.by: required"},
		{"expect by 9:30", func(c *C) { in(c).Expect = &Expect{By: "9:30"} }, `jobs.acme-in.expect.by: must be "HH:MM"`},
		{"expect by 24:00", func(c *C) { in(c).Expect = &Expect{By: "24:00"} }, `jobs.acme-in.expect.by: must be "HH:MM"`},
		{"expect by midnight", func(c *C) { in(c).Expect = &Expect{By: "00:00"} }, `jobs.acme-in.expect.by: "00:00" leaves no time`},
		{"expect before the schedule", func(c *C) { in(c).Expect = &Expect{By: "06:30", Days: "1-5"} }, "jobs.acme-in.expect.by: the job's schedule never runs between 00:00 and 06:30 on a due day"},
		{"expect on days the job does not run", func(c *C) { in(c).Expect = &Expect{By: "12:00", Days: "0,6"} }, "jobs.acme-in.expect.by: the job's schedule never runs"},
		{"expect by seconds", func(c *C) { in(c).Expect = &Expect{By: "09:30:00"} }, `jobs.acme-in.expect.by: must be "HH:MM"`},
		{"expect days 1-7", func(c *C) { in(c).Expect = &Expect{By: "09:30", Days: "1-7"} }, "jobs.acme-in.expect.days: must be a cron day-of-week field"},
		{"expect days word", func(c *C) { in(c).Expect = &Expect{By: "09:30", Days: "weekdays"} }, "jobs.acme-in.expect.days: must be a cron day-of-week field"},
		{"expect days fields", func(c *C) { in(c).Expect = &Expect{By: "09:30", Days: "* * 1-5"} }, "jobs.acme-in.expect.days: must be one day-of-week field without spaces"},
		{"source partner missing", func(c *C) { in(c).Source.Partner = "" }, "jobs.acme-in.source.partner: required"},
		{"source partner unknown", func(c *C) { in(c).Source.Partner = "acme-bv" }, `jobs.acme-in.source.partner: no partner "acme-bv"`},
		{"source dir missing", func(c *C) { in(c).Source.Dir = "" }, "jobs.acme-in.source.dir: required"},
		{"source dir relative", func(c *C) { in(c).Source.Dir = "outbox" }, "jobs.acme-in.source.dir: must be an absolute path"},
		{"source dir dotdot", func(c *C) { in(c).Source.Dir = "/outbox/../etc" }, `jobs.acme-in.source.dir: must not contain ".."`},
		{"source dir unclean", func(c *C) { in(c).Source.Dir = "/outbox//x" }, `jobs.acme-in.source.dir: must be a clean path: write "/outbox/x"`},
		{"source dir control", func(c *C) { in(c).Source.Dir = "/out\nbox" }, "jobs.acme-in.source.dir: must not contain control characters"},
		{"match empty", func(c *C) { in(c).Source.Match = "" }, "jobs.acme-in.source.match: must not be empty"},
		{"match slash", func(c *C) { in(c).Source.Match = "sub/*.csv" }, `jobs.acme-in.source.match: is a file name pattern; it must not contain "/"`},
		{"match bad", func(c *C) { in(c).Source.Match = "claims_[.csv" }, `jobs.acme-in.source.match: invalid pattern "claims_[.csv"`},
		{"settle and marker", func(c *C) { in(c).Source.DoneMarker = ".done" }, "jobs.acme-in.source: set settle or done_marker, not both"},
		{"neither settle nor marker", func(c *C) { in(c).Source.Settle = nil }, "jobs.acme-in.source: set settle or done_marker"},
		{"settle zero", func(c *C) { in(c).Source.Settle = dur("0s") }, "jobs.acme-in.source.settle: must be positive"},
		{"source marker no dot", func(c *C) { ho(c).Source.DoneMarker = "done" }, "jobs.handover.source.done_marker: must be a suffix starting with \".\""},
		{"source marker slash", func(c *C) { ho(c).Source.DoneMarker = "./done" }, "jobs.handover.source.done_marker: must be a suffix"},
		{"source marker dot", func(c *C) { ho(c).Source.DoneMarker = "." }, "jobs.handover.source.done_marker: must be a suffix"},
		{"after unknown", func(c *C) { in(c).Source.After = "archive" }, "jobs.acme-in.source.after: must be delete, keep or move:/dir"},
		{"after empty", func(c *C) { in(c).Source.After = "" }, "jobs.acme-in.source.after: must be delete, keep or move:/dir"},
		{"move no dir", func(c *C) { in(c).Source.After = "move:" }, "jobs.acme-in.source.after: move: needs a directory"},
		{"move relative", func(c *C) { in(c).Source.After = "move:done" }, "jobs.acme-in.source.after: must be an absolute path"},
		{"move dotdot", func(c *C) { in(c).Source.After = "move:/outbox/../x" }, `jobs.acme-in.source.after: must not contain ".."`},
		{"move into source", func(c *C) { in(c).Source.After = "move:/outbox" }, "jobs.acme-in.source.after: moves files into the source dir itself"},
		{"same source twice", func(c *C) {
			j := *in(c)
			c.Jobs["acme-in-2"] = &j
		}, `jobs.acme-in-2.source: same partner, dir and match as job "acme-in"`},

		// Transform.
		{"layout missing", func(c *C) { in(c).Transform.Layout = "" }, "jobs.acme-in.transform.layout: required"},
		{"layout unknown", func(c *C) { in(c).Transform.Layout = "acme" }, `jobs.acme-in.transform.layout: no layout "acme"`},
		{"profile unknown", func(c *C) { in(c).Transform.Profile = "full" }, `jobs.acme-in.transform.profile: must be internal, bailiff, lawyer, creditor-status or creditor-payment, not "full"`},
		{"no profile anywhere", func(c *C) { in(c).Transform.Profile = "" }, "jobs.acme-in.destinations[0].profile: no profile: set transform.profile or this destination's profile"},
		{"destination profile unknown", func(c *C) { in(c).Destinations[0].Profile = "everything" }, `jobs.acme-in.destinations[0].profile: must be internal, bailiff`},
		{"destination profile without transform", func(c *C) {
			in(c).Transform, in(c).Rejects = nil, nil
			in(c).Destinations[0].Profile = "internal"
		}, "jobs.acme-in.destinations[0].profile: only with a transform"},

		// Destinations.
		{"no destinations", func(c *C) { in(c).Destinations = nil }, "jobs.acme-in.destinations: at least one destination"},
		{"nil destination", func(c *C) { in(c).Destinations = append(in(c).Destinations, nil) }, "jobs.acme-in.destinations[1]: empty"},
		{"format delimiter", func(c *C) { in(c).Destinations[0].Format = &Format{Delimiter: ":"} }, `jobs.acme-in.destinations[0].format.delimiter: must be ";", ",", "\t" or "|", not ":"`},
		{"format charset", func(c *C) { in(c).Destinations[0].Format = &Format{Charset: "latin1"} }, "jobs.acme-in.destinations[0].format.charset: must be utf-8, utf-8-bom or windows-1252"},
		{"format date", func(c *C) { in(c).Destinations[0].Format = &Format{Date: "01-2006"} }, "jobs.acme-in.destinations[0].format.date:"},
		{"format date two-digit year", func(c *C) { in(c).Destinations[0].Format = &Format{Date: "02-01-06"} }, "jobs.acme-in.destinations[0].format.date: \"02-01-06\" is not a Go date layout that keeps day, month and year, the century too"},
		{"format header dup", func(c *C) {
			in(c).Destinations[0].Format = &Format{Headers: map[string]string{"debtor_ref": "Ref", "creditor_ref": "Ref"}}
		}, `jobs.acme-in.destinations[0].format.headers.debtor_ref: header "Ref" is also written for "creditor_ref"`},
		{"format without transform", func(c *C) {
			in(c).Transform, in(c).Rejects = nil, nil
			in(c).Destinations[0].Format = &Format{}
		}, "jobs.acme-in.destinations[0].format: only with a transform"},
		{"destination partner unknown", func(c *C) { in(c).Destinations[0].Partner = "case" }, `jobs.acme-in.destinations[0].partner: no partner "case"`},
		{"destination partner missing", func(c *C) { in(c).Destinations[0].Partner = "" }, "jobs.acme-in.destinations[0].partner: required"},
		{"destination dir relative", func(c *C) { in(c).Destinations[0].Dir = "inbox" }, "jobs.acme-in.destinations[0].dir: must be an absolute path"},
		{"destination dir missing", func(c *C) { in(c).Destinations[0].Dir = "" }, "jobs.acme-in.destinations[0].dir: required"},
		{"destination marker", func(c *C) { ho(c).Destinations[0].DoneMarker = "done" }, "jobs.handover.destinations[0].done_marker: must be a suffix"},
		{"upload unknown", func(c *C) { ho(c).Destinations[0].Upload = "rename" }, `jobs.handover.destinations[0].upload: must be temp or direct, not "rename"`},
		{"rejects upload unknown", func(c *C) { in(c).Rejects.Upload = "append" }, `jobs.acme-in.rejects.upload: must be temp or direct, not "append"`},
		{"loop", func(c *C) {
			ho(c).Destinations = append(ho(c).Destinations, &Destination{Partner: "cases", Dir: "/outbox/jansen"})
		}, "jobs.handover.destinations[1]: same partner and dir as the source: a loop"},
		{"duplicate destination", func(c *C) {
			d := *in(c).Destinations[0]
			in(c).Destinations = append(in(c).Destinations, &d)
		}, "jobs.acme-in.destinations[1]: same partner and dir as destinations[0]"},

		// Rejects.
		{"rejects without transform", func(c *C) { in(c).Transform = nil }, "jobs.acme-in.rejects: only with a transform"},
		{"rejects to another creditor", func(c *C) { in(c).Rejects.Partner = "other" }, `jobs.acme-in.rejects.partner: reject reports go to the source partner ("acme") or an internal partner, not "other"`},
		{"rejects to bailiff", func(c *C) { in(c).Rejects.Partner = "jansen" }, `jobs.acme-in.rejects.partner: reject reports go to the source partner`},
		{"rejects partner unknown", func(c *C) { in(c).Rejects.Partner = "nobody" }, `jobs.acme-in.rejects.partner: no partner "nobody"`},
		{"rejects dir", func(c *C) { in(c).Rejects.Dir = "" }, "jobs.acme-in.rejects.dir: required"},
		{"rejects profile", func(c *C) { in(c).Rejects.Profile = "internal" }, "jobs.acme-in.rejects.profile: not used"},
		{"rejects loop", func(c *C) { in(c).Rejects.Dir = "/outbox" }, "jobs.acme-in.rejects: same partner and dir as the source: a loop"},
		{"rejects marker", func(c *C) { in(c).Rejects.DoneMarker = "x" }, "jobs.acme-in.rejects.done_marker: must be a suffix"},

		// Layouts.
		{"layout name reserved", func(c *C) { c.Layouts["claim"] = lay(c) }, "layouts.claim: name is reserved for the built-in claim layout"},
		{"layout nil", func(c *C) { c.Layouts["x"] = nil }, "layouts.x: empty"},
		{"record missing", func(c *C) { lay(c).Record = "" }, "layouts.acme-claims.record: required"},
		{"creditor unknown", func(c *C) { lay(c).Creditor = "nobody" }, `layouts.acme-claims.creditor: no partner "nobody"`},
		{"creditor not a creditor", func(c *C) { lay(c).Creditor = "jansen" }, `layouts.acme-claims.creditor: partner "jansen" is a bailiff, not a creditor`},
		{"record unknown", func(c *C) { lay(c).Record = "invoice" }, `layouts.acme-claims.record: must be claim, payment or status, not "invoice"`},
		{"delimiter", func(c *C) { lay(c).Delimiter = "|" }, `layouts.acme-claims.delimiter: must be ";", ",", "\t" or ""`},
		{"charset", func(c *C) { lay(c).Charset = "latin1" }, `layouts.acme-claims.charset: must be utf-8 or windows-1252, not "latin1"`},
		{"decimal", func(c *C) { lay(c).Decimal = "" }, `layouts.acme-claims.decimal: must be "," or "."`},
		{"date empty", func(c *C) { lay(c).Date = "" }, "layouts.acme-claims.date: must not be empty"},
		{"date not a layout", func(c *C) { lay(c).Date = "dd-mm-yyyy" }, `layouts.acme-claims.date: "dd-mm-yyyy" is not a Go date layout`},
		{"date no day", func(c *C) { lay(c).Date = "01-2006" }, `layouts.acme-claims.date: "01-2006" is not a Go date layout`},
		{"date day twice", func(c *C) { lay(c).Date = "02-02-2006" }, `layouts.acme-claims.date:`},
		{"date two-digit year", func(c *C) { lay(c).Date = "02-01-06" }, `layouts.acme-claims.date: "02-01-06" is not a Go date layout that keeps day, month and year, the century too`},
		{"columns empty", func(c *C) { lay(c).Columns = nil }, "layouts.acme-claims.columns: at least one column"},
		{"column target dup", func(c *C) { lay(c).Columns["Klantnr"] = "debtor_ref" }, `layouts.acme-claims.columns.Klantnummer: target "debtor_ref" is also the target of column "Klantnr"`},
		{"column target empty", func(c *C) { lay(c).Columns["Bedrag"] = "" }, "layouts.acme-claims.columns.Bedrag: target must be a canonical field name"},
		{"column header empty", func(c *C) { lay(c).Columns[" "] = "x" }, "layouts.acme-claims.columns: a column header must not be empty"},
		{"required unknown", func(c *C) { lay(c).Required = []string{"bsn"} }, `layouts.acme-claims.required[0]: "bsn" is not the target of any column`},
		{"required twice", func(c *C) { lay(c).Required = []string{"debtor_ref", "debtor_ref"} }, `layouts.acme-claims.required[1]: "debtor_ref" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, baseYAML)
			if err := c.Validate(); err != nil {
				t.Fatalf("base config invalid: %v", err)
			}
			tc.mutate(c)
			err := c.Validate()
			wantErr(t, err, tc.want)
			noSecrets(t, err, "hunter2")
		})
	}
}

// Validate returns every problem, not just the first, in a stable order.
func TestValidateAll(t *testing.T) {
	setTestEnv(t)
	c := mustParse(t, baseYAML)
	c.StateDir = ""
	c.Partners["acme"].Role = "x"
	c.Jobs["acme-in"].Schedule = ""
	c.Layouts["acme-claims"].Record = ""
	err := c.Validate()
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%T is not a *FieldError", e)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d problems, want 4:\n%v", n, err)
	}
	if err2 := c.Validate(); err2.Error() != err.Error() {
		t.Errorf("order not stable:\n%v\n---\n%v", err, err2)
	}
	want := []string{"state_dir:", "partners.acme.role:", "layouts.acme-claims.record:", "jobs.acme-in.schedule:"}
	lines := strings.Split(err.Error(), "\n")
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

// The privacy guarantee: a destination receives only the profile its
// partner's role permits, and only profiled files reach a bailiff or lawyer.
func TestRolePermits(t *testing.T) {
	profiles := []string{ProfileInternal, ProfileBailiff, ProfileLawyer, ProfileCreditorStatus, ProfileCreditorPayment, "", "bogus"}
	allowed := map[string][]string{
		RoleInternal: {ProfileInternal, ProfileBailiff, ProfileLawyer, ProfileCreditorStatus, ProfileCreditorPayment},
		RoleBailiff:  {ProfileBailiff},
		RoleLawyer:   {ProfileLawyer},
		RoleCreditor: {ProfileCreditorStatus, ProfileCreditorPayment},
		"":           nil,
		"debtor":     nil,
	}
	for role, ok := range allowed {
		for _, p := range profiles {
			want := false
			for _, o := range ok {
				want = want || o == p
			}
			if got := RolePermits(role, p); got != want {
				t.Errorf("RolePermits(%q, %q) = %v, want %v", role, p, got, want)
			}
		}
	}
}

func TestPrivacyMatrix(t *testing.T) {
	setTestEnv(t)
	// A destination partner per role, none of them the source.
	dests := map[string]string{RoleInternal: "cases", RoleBailiff: "jansen", RoleLawyer: "bakker", RoleCreditor: "acme"}
	for role, partner := range dests {
		for _, prof := range []string{ProfileInternal, ProfileBailiff, ProfileLawyer, ProfileCreditorStatus, ProfileCreditorPayment} {
			for _, where := range []string{"job", "destination"} {
				name := fmt.Sprintf("%s gets %s via %s", role, prof, where)
				t.Run(name, func(t *testing.T) {
					c := mustParse(t, baseYAML)
					j := c.Jobs["handover"] // source: cases (internal)
					d := &Destination{Partner: partner, Dir: "/privacy"}
					j.Destinations = []*Destination{d}
					if where == "job" {
						j.Transform.Profile = prof
					} else {
						j.Transform.Profile = ProfileInternal // the override must win
						d.Profile = prof
					}
					if got := c.ProfileFor(j, d); got != prof {
						t.Fatalf("ProfileFor = %q, want %q", got, prof)
					}
					err := c.Validate()
					if RolePermits(role, prof) {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						return
					}
					wantErr(t, err, fmt.Sprintf("jobs.handover.destinations[0].partner: %s %q may not receive profile %q", role, partner, prof))
				})
			}
		}
	}
}

// An override to a narrower profile does not excuse the others: each
// destination is judged by its own effective profile.
func TestPrivacyPerDestination(t *testing.T) {
	setTestEnv(t)
	c := mustParse(t, baseYAML)
	j := c.Jobs["handover"]
	j.Transform.Profile = ProfileInternal
	j.Destinations = []*Destination{
		{Partner: "jansen", Dir: "/in", Profile: ProfileBailiff},
		{Partner: "bakker", Dir: "/in"}, // inherits internal: refused
		{Partner: "cases", Dir: "/archive"},
	}
	err := c.Validate()
	wantErr(t, err, `jobs.handover.destinations[1].partner: lawyer "bakker" may not receive profile "internal"`)
	if strings.Contains(err.Error(), "destinations[0]") || strings.Contains(err.Error(), "destinations[2]") {
		t.Errorf("permitted destinations refused:\n%v", err)
	}
}

func TestPassThrough(t *testing.T) {
	setTestEnv(t)
	for _, tc := range []struct {
		partner, want string
	}{
		{"jansen", "jobs.handover.destinations[0].partner: a bailiff receives only profiled files; set transform"},
		{"bakker", "jobs.handover.destinations[0].partner: a lawyer receives only profiled files; set transform"},
		{"cases", ""},
		{"acme", ""},
	} {
		t.Run(tc.partner, func(t *testing.T) {
			c := mustParse(t, baseYAML)
			j := c.Jobs["handover"]
			j.Transform = nil
			j.Destinations = []*Destination{{Partner: tc.partner, Dir: "/pass"}}
			if got := c.ProfileFor(j, j.Destinations[0]); got != "" {
				t.Errorf("ProfileFor a pass-through job = %q", got)
			}
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
}

// A creditor's debtors never reach another creditor, profiled or not.
func TestCreditorToCreditor(t *testing.T) {
	setTestEnv(t)
	for _, transform := range []bool{true, false} {
		c := mustParse(t, baseYAML)
		j := c.Jobs["acme-in"]
		j.Destinations = []*Destination{{Partner: "other", Dir: "/inbox"}}
		if transform {
			j.Transform.Profile = ProfileCreditorStatus
		} else {
			j.Transform, j.Rejects = nil, nil
		}
		wantErr(t, c.Validate(), `jobs.acme-in.destinations[0].partner: creditor "other" may not receive files from another creditor ("acme")`)
	}
	// Back to the same creditor, elsewhere, is fine.
	c := mustParse(t, baseYAML)
	j := c.Jobs["acme-in"]
	j.Transform.Profile = ProfileCreditorStatus
	j.Destinations = []*Destination{{Partner: "acme", Dir: "/inbox/status"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRejectsToInternal(t *testing.T) {
	setTestEnv(t)
	c := mustParse(t, baseYAML)
	c.Jobs["acme-in"].Rejects = &Destination{Partner: "cases", Dir: "/rejects/acme"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Validate over the YAML path too: a privacy error reaches the user through Parse.
func TestParsePrivacy(t *testing.T) {
	setTestEnv(t)
	y := strings.Replace(baseYAML, "transform: {layout: claim, profile: bailiff}", "transform: {layout: claim, profile: internal}", 1)
	_, err := parseString(t, y)
	wantErr(t, err, `jobs.handover.destinations[0].partner: bailiff "jansen" may not receive profile "internal"`)
	y = strings.Replace(baseYAML, "    transform: {layout: claim, profile: bailiff}\n", "", 1)
	_, err = parseString(t, y)
	wantErr(t, err, "jobs.handover.destinations[0].partner: a bailiff receives only profiled files; set transform")
}

func TestValidHostKey(t *testing.T) {
	for k, want := range map[string]bool{
		testHostKey: true,
		"SHA256:7elVKVfrr/B+4evwmNgE+/fYrzaXMUNsF7daIeKLP8I":  true,
		"SHA256:7elVKVfrr/B+4evwmNgE+/fYrzaXMUNsF7daIeKLP8I=": false,
		"sha256:7elVKVfrr/B+4evwmNgE+/fYrzaXMUNsF7daIeKLP8I":  false,
		"SHA256:7elVKVfrr_B-4evwmNgE-_fYrzaXMUNsF7daIeKLP8I":  false, // URL alphabet
		"SHA256:7elVKVfrr/B+4evwmNgE+/fYrzaXMUNsF7daIeKLP8":   false,
		"SHA256:": false,
		"":        false,
	} {
		if got := validHostKey(k); got != want {
			t.Errorf("validHostKey(%q) = %v", k, got)
		}
	}
}
