package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func writeSecret(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretExpansion(t *testing.T) {
	setTestEnv(t)
	keyFile := writeSecret(t, testKey, 0o600)
	pwFile := writeSecret(t, testPassword+"\n", 0o600)
	ppFile := writeSecret(t, testPassphrase+"\n", 0o600)
	t.Setenv("TEST_JANSEN_KEY_ENC", testKeyEnc)
	crlfFile := writeSecret(t, testPassword+"\r\n", 0o600)
	twoNL := writeSecret(t, testPassword+"\n\n", 0o600)
	t.Setenv("TEST_PW_NL", testPassword+"\n")

	for _, tc := range []struct {
		name, old, new string
		get            func(*Config) Secret
		want           string
	}{
		{"env password", "", "", func(c *Config) Secret { return c.Partners["acme"].SFTP.Password }, testPassword},
		{"env key kept whole", "", "", func(c *Config) Secret { return c.Partners["jansen"].SFTP.PrivateKey }, testKey},
		{"file key kept whole", "private_key: env:TEST_JANSEN_KEY", "private_key: file:" + keyFile,
			func(c *Config) Secret { return c.Partners["jansen"].SFTP.PrivateKey }, testKey},
		{"file password trimmed", "password: env:TEST_ACME_PW", "password: file:" + pwFile,
			func(c *Config) Secret { return c.Partners["acme"].SFTP.Password }, testPassword},
		{"file password crlf trimmed", "password: env:TEST_ACME_PW", "password: file:" + crlfFile,
			func(c *Config) Secret { return c.Partners["acme"].SFTP.Password }, testPassword},
		{"only one newline trimmed", "password: env:TEST_ACME_PW", "password: file:" + twoNL,
			func(c *Config) Secret { return c.Partners["acme"].SFTP.Password }, testPassword + "\n"},
		{"env password trimmed", "password: env:TEST_ACME_PW", "password: env:TEST_PW_NL",
			func(c *Config) Secret { return c.Partners["acme"].SFTP.Password }, testPassword},
		{"passphrase from file", "private_key: env:TEST_JANSEN_KEY", "private_key: env:TEST_JANSEN_KEY_ENC, passphrase: file:" + ppFile,
			func(c *Config) Secret { return c.Partners["jansen"].SFTP.Passphrase }, testPassphrase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, strings.Replace(baseYAML, tc.old, tc.new, 1))
			s := tc.get(c)
			if string(s.Value) != tc.want {
				t.Errorf("Value = %q, want %q", s.Value, tc.want)
			}
			if !s.IsSet() || !strings.HasPrefix(s.Ref, "env:") && !strings.HasPrefix(s.Ref, "file:") {
				t.Errorf("Ref = %q", s.Ref)
			}
		})
	}
}

func TestSecretExpansionErrors(t *testing.T) {
	setTestEnv(t)
	dir := t.TempDir()
	empty := writeSecret(t, "", 0o600)
	newline := writeSecret(t, "\n", 0o600)
	big := writeSecret(t, strings.Repeat("x", maxSecretFile+1), 0o600)
	t.Setenv("TEST_EMPTY", "")
	os.Unsetenv("TEST_UNSET_XYZ")

	for _, tc := range []struct{ name, ref, want string }{
		{"env unset", "env:TEST_UNSET_XYZ", "partners.acme.sftp.password: environment variable TEST_UNSET_XYZ is not set"},
		{"env empty", "env:TEST_EMPTY", "partners.acme.sftp.password: environment variable TEST_EMPTY is empty"},
		{"file missing", "file:" + filepath.Join(dir, "nope"), "partners.acme.sftp.password: secret file: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"file is dir", "file:" + dir, "partners.acme.sftp.password: secret file " + dir + ":"},
		{"file empty", "file:" + empty, "partners.acme.sftp.password: secret file " + empty + " is empty"},
		{"file only newline", "file:" + newline, "partners.acme.sftp.password: file:" + newline + " holds only a newline"},
		{"file too big", "file:" + big, "is larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseString(t, strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: "+tc.ref, 1))
			wantErr(t, err, tc.want)
			noSecrets(t, err, strings.Repeat("x", 100))
		})
	}
	if os.Geteuid() != 0 { // root reads anything
		unreadable := writeSecret(t, testPassword, 0o000)
		_, err := parseString(t, strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: file:"+unreadable, 1))
		wantErr(t, err, "permission denied")
		noSecrets(t, err)
	}
}

// Expansion and validation problems are reported together.
func TestSecretAndValidationErrorsTogether(t *testing.T) {
	setTestEnv(t)
	os.Unsetenv("TEST_UNSET_XYZ")
	y := strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: env:TEST_UNSET_XYZ", 1)
	y = strings.Replace(y, "state_dir: /var/lib/exchanged", "state_dir: var/lib", 1)
	_, err := parseString(t, y)
	wantErr(t, err, "environment variable TEST_UNSET_XYZ is not set")
	wantErr(t, err, "state_dir: must be an absolute path")
}

// No error of any kind holds a secret's value: not from a literal, not
// from an expanded reference, not from a value in the wrong place.
func TestNoSecretInErrors(t *testing.T) {
	setTestEnv(t)
	pwFile := writeSecret(t, testPassword+"\n", 0o600)
	const lit = "Lit3ral-Geheim-1234"
	for _, y := range []string{
		// Literals where a reference belongs.
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: "+lit, 1),
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: env:"+lit, 1),
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: env:"+lit+"!", 1),
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: file:"+lit, 1),
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: ["+lit+"]", 1),
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: '"+lit+"\n'", 1),
		// A secret in the wrong key or of the wrong type.
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "pasword: "+lit, 1),
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: env:TEST_ACME_PW, port: "+lit, 1),
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: env:TEST_ACME_PW, timeout: "+lit, 1),
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: env:TEST_ACME_PW, keepalive: {x: "+lit+"}", 1),
		strings.Replace(baseYAML, "checksum: true", "checksum: "+lit, 1),
		// Expanded secrets with other things wrong around them.
		strings.Replace(strings.Replace(baseYAML, "user: incasso,", "", 1), "host_key:", "known_hosts: rel, host_key:", 1),
		strings.Replace(baseYAML, "password: env:TEST_ACME_PW", "password: env:TEST_ACME_PW, private_key: file:"+pwFile, 1),
		strings.Replace(baseYAML, "private_key: env:TEST_JANSEN_KEY", "password: file:"+pwFile+", passphrase: env:TEST_ACME_PW", 1),
	} {
		_, err := parseString(t, y)
		if err == nil {
			t.Errorf("no error for:\n%s", y)
			continue
		}
		noSecrets(t, err, lit, "Lit3ral")
	}
}

// A Secret never shows its value: not through fmt, JSON or YAML.
func TestSecretNeverPrinted(t *testing.T) {
	s := Secret{Ref: "env:ACME_PW", Value: []byte(testPassword)}
	sftp := &SFTP{Host: "h", Password: s}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out = append(out, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, sftp), fmt.Sprintf(verb, *sftp))
	}
	j, err := json.Marshal(sftp)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(sftp)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j), string(y), s.String())
	for _, o := range out {
		if strings.Contains(o, testPassword) || strings.Contains(o, fmt.Sprintf("%x", testPassword)) || strings.Contains(o, fmt.Sprint([]byte(testPassword))) {
			t.Errorf("secret value printed: %s", o)
		}
	}
	if !strings.Contains(string(y), "password: env:ACME_PW") {
		t.Errorf("yaml does not keep the reference:\n%s", y)
	}
	if got := fmt.Sprintf("%v|%q", s, s); got != `env:ACME_PW|"env:ACME_PW"` {
		t.Errorf("formatted as %s", got)
	}
}

func TestSecretUnmarshal(t *testing.T) {
	for _, tc := range []struct{ in, ref, err string }{
		{"env:A_B", "env:A_B", ""},
		{"file:/run/secrets/x", "file:/run/secrets/x", ""},
		{`""`, "", ""},
		{"hunter2", "", "a literal secret is refused"},
		{"ENV:A", "", "a literal secret is refused"},
		{`"env:"`, "", "env: needs"},
		{`"file:"`, "", "file: needs an absolute path"},
		{"{env: X}", "", "must be a reference"},
		{"12345", "", "a literal secret is refused"},
	} {
		var s Secret
		err := yaml.Unmarshal([]byte(tc.in), &s)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err = %v, want %q", tc.in, err, tc.err)
		}
		if s.Ref != tc.ref {
			t.Errorf("%s: Ref = %q", tc.in, s.Ref)
		}
	}
}

func TestSecretExpandWipe(t *testing.T) {
	t.Setenv("TEST_X", "v")
	s := Secret{Ref: "env:TEST_X"}
	if err := s.Expand(); err != nil || string(s.Value) != "v" {
		t.Fatalf("Expand: %v %q", err, s.Value)
	}
	v := s.Value
	s.Wipe()
	if s.Value != nil || v[0] != 0 {
		t.Errorf("Wipe left %q / %q", s.Value, v)
	}
	var unset Secret
	if err := unset.Expand(); err != nil || unset.Value != nil {
		t.Errorf("unset Expand: %v %q", err, unset.Value)
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"30s", "30s", false}, {"5m", "5m0s", false}, {"1h30m", "1h30m0s", false}, {"0s", "0s", false},
		{"-1s", "", true}, {"30", "", true}, {"soon", "", true}, {"[1]", "", true},
	} {
		var d Duration
		err := yaml.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.err {
			t.Errorf("%s: err = %v", tc.in, err)
			continue
		}
		if !tc.err && d.String() != tc.want {
			t.Errorf("%s: %v", tc.in, d)
		}
	}
	b, _ := yaml.Marshal(struct{ D Duration }{Duration(90e9)})
	if string(b) != "d: 1m30s\n" {
		t.Errorf("marshal: %q", b)
	}
}
