package config

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ledger.postgres and ledger.key are secret references, read at load: the
// DSN with one trailing newline trimmed, the key raw (32 bytes) or in hex;
// a key without postgres, postgres without a key, or a key of another
// form is refused, naming the field and never the value.
func TestLedgerPostgres(t *testing.T) {
	setTestEnv(t)
	dsn := "postgres://exchanged:HUNTER2@db.example:5432/exchanged?sslmode=verify-full"
	raw := []byte("0123456789abcdef0123456789ABCDEF")
	dir := t.TempDir()
	dsnFile, keyFile := filepath.Join(dir, "dsn"), filepath.Join(dir, "key")
	os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600)
	os.WriteFile(keyFile, raw, 0o600)
	t.Setenv("TEST_DSN", dsn)
	t.Setenv("TEST_LEDGER_KEY", hex.EncodeToString(raw))
	t.Setenv("TEST_SHORT_KEY", "SECRETHEX"+hex.EncodeToString(raw[:8]))
	for _, refs := range [][2]string{{"env:TEST_DSN", "file:" + keyFile}, {"file:" + dsnFile, "env:TEST_LEDGER_KEY"}} {
		c := mustParse(t, baseYAML+"ledger:\n  postgres: "+refs[0]+"\n  key: "+refs[1]+"\n")
		if string(c.Ledger.Postgres.Value) != dsn || !ledgerKeyForm(c.Ledger.Key.Value) {
			t.Errorf("%v: DSN %d bytes, key %d bytes", refs, len(c.Ledger.Postgres.Value), len(c.Ledger.Key.Value))
		}
	}
	if c := mustParse(t, baseYAML); c.Ledger.Postgres.IsSet() || c.Ledger.Key.IsSet() {
		t.Error("a ledger set without one in the file")
	}
	for yaml, msg := range map[string]string{
		"ledger:\n  postgres: env:TEST_DSN\n":                               "ledger.key: required with ledger.postgres",
		"ledger:\n  key: env:TEST_LEDGER_KEY\n":                             "ledger.key: only with ledger.postgres",
		"ledger:\n  postgres: env:TEST_DSN\n  key: env:TEST_SHORT_KEY\n":    "ledger.key: env:TEST_SHORT_KEY must hold 32 bytes",
		"ledger:\n  postgres: env:TEST_UNSET\n  key: env:TEST_LEDGER_KEY\n": "ledger.postgres: environment variable TEST_UNSET is not set",
		"ledger:\n  postgres: " + dsn + "\n  key: env:TEST_LEDGER_KEY\n":    "ledger.postgres",
		"ledger:\n  sqlite: /x\n":                                           "sqlite",
	} {
		_, err := parseString(t, baseYAML+yaml)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", yaml, err, msg)
		}
		if err != nil && (strings.Contains(err.Error(), "HUNTER2") || strings.Contains(err.Error(), "SECRETHEX")) {
			t.Errorf("%q: the error holds a secret: %v", yaml, err)
		}
	}
}
