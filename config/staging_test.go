package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/internal/seal"
)

// staging.key is a secret reference to a staging key file: read from
// env: or file:, checked at load, and refused, naming the key and never
// its value, when it is not one.
func TestStagingKey(t *testing.T) {
	setTestEnv(t)
	id, err := seal.GenerateFile()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := seal.ParseKey(id)
	file := filepath.Join(t.TempDir(), "staging_key")
	os.WriteFile(file, id, 0o600)
	t.Setenv("TEST_STAGING_KEY", string(id))
	t.Setenv("TEST_NOT_A_KEY", "EXCHANGED-STAGING-KEY-1:HUNTER2")
	for _, ref := range []string{"env:TEST_STAGING_KEY", "file:" + file} {
		c := mustParse(t, baseYAML+"staging:\n  key: "+ref+"\n")
		k, err := seal.ParseKey(c.Staging.Key.Value)
		if err != nil || k.ID() != want.ID() {
			t.Errorf("%s: %v", ref, err)
		}
	}
	if c := mustParse(t, baseYAML); c.Staging.Key.IsSet() {
		t.Error("staging.key set without the key in the file")
	}
	for ref, msg := range map[string]string{
		"env:TEST_NOT_A_KEY":           "staging.key: line 1 is not a staging key",
		"env:TEST_UNSET_KEY":           "staging.key: environment variable TEST_UNSET_KEY is not set",
		"EXCHANGED-STAGING-KEY-1:ABCD": "staging.key",
	} {
		_, err := parseString(t, baseYAML+"staging:\n  key: "+ref+"\n")
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", ref, err, msg)
		}
		if err != nil && (strings.Contains(err.Error(), "HUNTER2") || strings.Contains(err.Error(), "ABCD")) {
			t.Errorf("%s: the error holds the value: %v", ref, err)
		}
	}
}
