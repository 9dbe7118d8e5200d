package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const examplePath = "../testdata/exchanged.example.yaml"

// examplePGPPassphrase protects testdata/pgp/agency.asc, the example's
// OpenPGP key (a test key, published with the example).
const examplePGPPassphrase = "example-agency-passphrase"

func TestExampleFile(t *testing.T) {
	vals := setEnvRefs(t, examplePath)
	if len(vals) < 4 {
		t.Fatalf("example refers to %d env vars; want at least 4", len(vals))
	}
	for name, v := range map[string]string{"ZUIDERZEE_SSH_KEY": testKey, "JANSEN_SSH_KEY": testKeyEnc, "JANSEN_SSH_PASSPHRASE": testPassphrase + "\n",
		"AGENCY_PGP_PASSPHRASE": examplePGPPassphrase} {
		vals[name] = v
		t.Setenv(name, v)
	}
	c, err := Load(exampleCopy(t))
	if err != nil {
		t.Fatalf("Load example: %v", err)
	}
	if c.Location == nil || c.Location.String() != "Europe/Amsterdam" {
		t.Errorf("Location = %v", c.Location)
	}
	roles := map[string]bool{}
	for name, p := range c.Partners {
		if p.Name != name {
			t.Errorf("partner %q has Name %q", name, p.Name)
		}
		roles[p.Role] = true
	}
	for _, r := range []string{RoleCreditor, RoleBailiff, RoleLawyer, RoleInternal} {
		if !roles[r] {
			t.Errorf("example has no %s partner", r)
		}
	}
	profiles := map[string]bool{}
	passThrough := false
	for name, j := range c.Jobs {
		if j.Name != name {
			t.Errorf("job %q has Name %q", name, j.Name)
		}
		if j.Transform == nil {
			passThrough = true
		}
		for _, d := range j.Destinations {
			profiles[c.ProfileFor(j, d)] = true
		}
	}
	for _, p := range []string{ProfileInternal, ProfileBailiff, ProfileLawyer, ProfileCreditorStatus, ProfileCreditorPayment} {
		if !profiles[p] {
			t.Errorf("example delivers no file with profile %q", p)
		}
	}
	if !passThrough {
		t.Error("example has no job without transform")
	}
	if len(c.Layouts) < 2 {
		t.Errorf("example has %d layouts", len(c.Layouts))
	}

	jansen := c.Partner("gdw-jansen").SFTP
	if got := jansen.Address(); got != "sftp.jansen-devries.example:2222" {
		t.Errorf("Address = %q", got)
	}
	if got, want := string(jansen.PrivateKey.Value), vals["JANSEN_SSH_KEY"]; got != want {
		t.Errorf("private key not expanded byte for byte: %q, want %q", got, want)
	}
	if got, want := string(jansen.Passphrase.Value), strings.TrimSuffix(vals["JANSEN_SSH_PASSPHRASE"], "\n"); got != want {
		t.Errorf("passphrase = %q, want %q (one newline trimmed)", got, want)
	}
	bakker := c.Partner("bakker-advocaten").SFTP
	if bakker.Port != 22 || bakker.KeepAlive.D() != 30*time.Second || bakker.MaxConns != 2 || bakker.Timeout.D() != time.Minute {
		t.Errorf("bakker sftp defaults: %+v", bakker)
	}
	if c.Partner("nobody") != nil {
		t.Error("Partner of an unknown name is not nil")
	}
}

// exampleCopy writes the example config with its known_hosts path pointed
// at testdata/known_hosts and returns the copy's path.
func exampleCopy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "exchanged.yaml")
	text := strings.ReplaceAll(string(b), "/etc/exchanged/known_hosts", testKnownHosts)
	text = strings.ReplaceAll(text, "/etc/exchanged/pgp/", mustAbs("../testdata/pgp")+"/")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The example must name every key the config knows, so that it documents them all.
func TestExampleHasEveryKey(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	// password and passphrase are both in; each key of each struct.
	for _, typ := range []any{Config{}, Log{}, HTTP{}, Runs{}, Retry{}, Retention{}, Partner{}, SFTP{}, Local{}, Job{}, Expect{}, Source{}, Transform{}, Destination{}, Layout{}} {
		for key := range structFields(reflectType(typ)) {
			if !strings.Contains(text, key+":") {
				t.Errorf("example never sets %s (%T)", key, typ)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	setTestEnv(t)
	c := mustParse(t, baseYAML)
	if c.Timezone != "Europe/Amsterdam" || c.Location.String() != "Europe/Amsterdam" {
		t.Errorf("timezone %q, location %v", c.Timezone, c.Location)
	}
	if c.Log != (Log{Level: "info", Format: "json"}) {
		t.Errorf("log = %+v", c.Log)
	}
	if c.HTTP.Listen == nil || *c.HTTP.Listen != "127.0.0.1:9464" {
		t.Errorf("http.listen = %v", c.HTTP.Listen)
	}
	if want := (Runs{MaxConcurrent: 4, AlertAfter: 3, ParallelFiles: 8, Retry: Retry{Attempts: 3,
		Backoff: Duration(2 * time.Second), MaxBackoff: Duration(time.Minute)}}); c.Runs != want {
		t.Errorf("runs = %+v, want %+v", c.Runs, want)
	}
	s := c.Partners["acme"].SFTP
	if s.Port != 22 || s.Timeout.D() != 30*time.Second || s.KeepAlive.D() != 30*time.Second || s.MaxConns != 2 {
		t.Errorf("sftp defaults: port %d timeout %v keepalive %v max_conns %d", s.Port, s.Timeout, s.KeepAlive, s.MaxConns)
	}
	if s.Address() != "sftp.acme.example:22" {
		t.Errorf("Address = %q", s.Address())
	}
	in := c.Jobs["acme-in"].Source
	if in.After != "delete" || in.Settle == nil || in.Settle.D() != 30*time.Second || in.DoneMarker != "" {
		t.Errorf("source defaults: %+v", in)
	}
	ho := c.Jobs["handover"].Source
	if ho.Match != "*" || ho.Settle != nil || ho.DoneMarker != ".done" {
		t.Errorf("source with done_marker: match %q settle %v", ho.Match, ho.Settle)
	}
	if d := c.Jobs["handover"].Destinations[0]; d.Upload != "temp" || d.UploadMode() != "temp" {
		t.Errorf("destination upload = %q, want temp", d.Upload)
	}
	if r := c.Jobs["acme-in"].Rejects; r != nil && r.Upload != "temp" {
		t.Errorf("rejects upload = %q, want temp", r.Upload)
	}
	if (&Destination{}).UploadMode() != "temp" {
		t.Error("UploadMode of a Destination built without Parse is not temp")
	}
	l := c.Layouts["acme-claims"]
	if l.Name != "acme-claims" || l.Charset != "windows-1252" {
		t.Errorf("layout %+v", l)
	}
	l2 := mustParse(t, strings.Replace(baseYAML, `    delimiter: ";"
    charset: windows-1252
    decimal: ","
    date: "02-01-2006"
`, "", 1)).Layouts["acme-claims"]
	if l2.Charset != "utf-8" || l2.Decimal != "." || l2.Date != "2006-01-02" || l2.Delimiter != "" {
		t.Errorf("layout defaults: %+v", l2)
	}
}

func TestExplicitValuesKept(t *testing.T) {
	setTestEnv(t)
	y := strings.Replace(baseYAML, `host: sftp.acme.example,`, `host: sftp.acme.example, keepalive: 0s, port: 2022, max_conns: 5, timeout: 5s,`, 1)
	y = strings.Replace(y, `match: "claims_*.csv"}`, `match: "claims_*.csv", settle: 2m, after: "move:/outbox/done"}`, 1)
	y = strings.Replace(y, "version: 1\n", "version: 1\ntimezone: UTC\nlog: {level: debug}\n", 1)
	c := mustParse(t, y)
	s := c.Partners["acme"].SFTP
	if s.KeepAlive != 0 || s.Port != 2022 || s.MaxConns != 5 || s.Timeout.D() != 5*time.Second {
		t.Errorf("sftp: %+v", s)
	}
	src := c.Jobs["acme-in"].Source
	if src.Settle.D() != 2*time.Minute || src.MoveDir() != "/outbox/done" {
		t.Errorf("source: %+v", src)
	}
	if c.Location != time.UTC && c.Location.String() != "UTC" {
		t.Errorf("location %v", c.Location)
	}
	if c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Errorf("log: %+v (format must keep its default)", c.Log)
	}
}

func TestHTTPListen(t *testing.T) {
	setTestEnv(t)
	for _, tc := range []struct{ http, want string }{
		{"", "127.0.0.1:9464"},
		{"http: {}\n", "127.0.0.1:9464"},
		{"http: {listen: ~}\n", "127.0.0.1:9464"},
		{`http: {listen: ""}` + "\n", ""},
		{`http: {listen: "0.0.0.0:9100"}` + "\n", "0.0.0.0:9100"},
		{`http: {listen: ":9100"}` + "\n", ":9100"},
	} {
		c := mustParse(t, strings.Replace(baseYAML, "version: 1\n", "version: 1\n"+tc.http, 1))
		if c.HTTP.Listen == nil || *c.HTTP.Listen != tc.want {
			t.Errorf("%q: listen = %v, want %q", tc.http, c.HTTP.Listen, tc.want)
		}
	}
}

// Errors that the strict walk over the document reports, with key paths.
func TestParseErrors(t *testing.T) {
	setTestEnv(t)
	rep := func(old, new string) string {
		if !strings.Contains(baseYAML, old) {
			t.Fatalf("baseYAML lacks %q", old)
		}
		return strings.Replace(baseYAML, old, new, 1)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown nested key", rep("host: sftp.acme.example,", "hots: sftp.acme.example,"), "partners.acme.sftp.hots: unknown key"},
		{"unknown top key", rep("version: 1\n", "version: 1\nstatedir: /x\n"), "statedir: unknown key; did you mean state_dir?"},
		{"unknown key, no suggestion", rep("version: 1\n", "version: 1\nretries: 3\n"), "retries: unknown key (line"},
		{"unknown key in list", rep("checksum: true}", "checksum: true, chcksum: true}"), "jobs.handover.destinations[0].chcksum: unknown key"},
		{"unknown source key", rep(`match: "claims_*.csv"}`, `match: "claims_*.csv", settel: 1m}`), "jobs.acme-in.source.settel: unknown key; did you mean settle?"},
		{"unknown layout key", rep("record: claim", "record: claim\n    header: true"), "layouts.acme-claims.header: unknown key"},
		{"line number", rep("host: sftp.acme.example,", "hots: sftp.acme.example,"), "(line 7)"},
		{"literal password", rep("password: env:TEST_ACME_PW", "password: hunter2"), "partners.acme.sftp.password: a literal secret is refused; use env:NAME or file:/path"},
		{"literal key", rep("private_key: env:TEST_JANSEN_KEY", "private_key: '-----BEGIN KEY-----'"), "partners.jansen.sftp.private_key: a literal secret is refused"},
		{"secret as mapping", rep("password: env:TEST_ACME_PW", "password: {value: x}"), "partners.acme.sftp.password: must be a reference: env:NAME or file:/path"},
		{"relative file secret", rep("password: env:TEST_ACME_PW", "password: file:secrets/pw"), "partners.acme.sftp.password: file: needs an absolute path"},
		{"bad env name", rep("password: env:TEST_ACME_PW", "password: env:1-x"), "partners.acme.sftp.password: env: needs an environment variable name"},
		{"duration", rep(`match: "claims_*.csv"}`, `match: "claims_*.csv", settle: 30}`), "jobs.acme-in.source.settle: must be a duration"},
		{"negative duration", rep("host: sftp.acme.example,", "host: sftp.acme.example, timeout: -5s,"), "partners.acme.sftp.timeout: must not be negative"},
		{"port type", rep("host: sftp.acme.example,", `host: sftp.acme.example, port: "22x",`), "partners.acme.sftp.port: must be an integer"},
		{"bool type", rep("checksum: true", "checksum: yes"), "jobs.handover.destinations[0].checksum: must be true or false"},
		{"list type", rep("required: [debtor_ref]", "required: debtor_ref"), "layouts.acme-claims.required: must be a list"},
		{"mapping type", rep("role: lawyer\n    local: {root: /srv/bakker}", "role: lawyer\n    local: /srv/bakker"), "partners.bakker.local: must be a mapping"},
		{"duplicate partner", rep("  other:\n", "  acme:\n    role: creditor\n  other:\n"), "partners.acme: duplicate key (first at line 5)"},
		{"string where mapping", rep("state_dir: /var/lib/exchanged", "state_dir: {path: /x}"), "state_dir: must be a string"},
		{"version 2", rep("version: 1", "version: 2"), "version: this build reads format version 1 only"},
		{"version string", rep("version: 1", `version: "1"`), "version: this build reads format version 1 only"},
		{"version missing", rep("version: 1\n", ""), "version: required"},
		{"two documents", baseYAML + "---\nversion: 1\n", "more than one YAML document"},
		{"top-level list", "- version: 1\n", "top level must be a mapping"},
		{"syntax", "version: 1\n  state_dir: [", "config: yaml:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseString(t, tc.yaml)
			if tc.name == "syntax" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			wantErr(t, err, tc.want)
			noSecrets(t, err, "hunter2", "BEGIN KEY")
		})
	}
}

func TestVersionSentinel(t *testing.T) {
	_, err := parseString(t, "version: 2\nstate_dir: /x\nfuture_key: 1\n")
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("err = %v; want ErrVersion", err)
	}
	if strings.Contains(err.Error(), "future_key") {
		t.Errorf("a version-2 file is judged by version-1 keys: %v", err)
	}
}

func TestEmpty(t *testing.T) {
	for _, s := range []string{"", "\n\n", "# only a comment\n", "---\n", "~\n"} {
		if _, err := parseString(t, s); !errors.Is(err, ErrEmpty) {
			t.Errorf("%q: err = %v; want ErrEmpty", s, err)
		}
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	setTestEnv(t)
	y := strings.Replace(baseYAML, "  other:\n", "  other2:\n    <<: &loc {role: creditor}\n    local: {root: /srv/o2}\n  other:\n", 1)
	c := mustParse(t, y)
	if c.Partners["other2"].Role != "creditor" {
		t.Errorf("merge key not honoured: %+v", c.Partners["other2"])
	}
	y = strings.Replace(baseYAML, "  other:\n", "  other2:\n    <<: {role: creditor, rol: x}\n    local: {root: /srv/o2}\n  other:\n", 1)
	_, err := parseString(t, y)
	wantErr(t, err, "partners.other2.rol: unknown key")
}

func TestLoad(t *testing.T) {
	setTestEnv(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(p, []byte(baseYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// A document whose aliases expand to billions of nodes is refused at once,
// with one short error, not walked for minutes.
func TestAliasBomb(t *testing.T) {
	y := "version: 1\nruns:\n  a: &a {k: 1}\n"
	prev := "a"
	for i := range 9 {
		n := string(rune('b' + i))
		y += "  " + n + ": &" + n + " {<<: [*" + strings.Repeat(prev+", *", 9) + prev + "]}\n"
		prev = n
	}
	y += "partners: {<<: *" + prev + "}\n"
	start := time.Now()
	_, err := Parse(strings.NewReader(y))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %s", d)
	}
	wantErr(t, err, "aliases expand the document too far")
	if len(err.Error()) > 4096 {
		t.Errorf("error of %d bytes:\n%.1000s", len(err.Error()), err)
	}
}
