package config

import (
	"encoding/hex"
	"strings"
	"testing"
)

// A DSN to a remote host without sslmode (pgx: "prefer", TLS
// without verification, falling back to plaintext) or with
// sslmode=disable is accepted; the ledger's rows then cross the network
// unverified (SFTP refuses an unknown host key).
func TestLedgerDSNWithoutVerifiedTLS(t *testing.T) {
	setTestEnv(t)
	t.Setenv("TEST_LEDGER_KEY", hex.EncodeToString(make([]byte, 32)))
	for _, dsn := range []string{
		"postgres://exchanged:pw@db.example:5432/exchanged",
		"postgres://exchanged:pw@db.example:5432/exchanged?sslmode=disable",
	} {
		t.Setenv("TEST_DSN", dsn)
		_, err := parseString(t, baseYAML+"ledger:\n  postgres: env:TEST_DSN\n  key: env:TEST_LEDGER_KEY\n")
		if err == nil {
			t.Errorf("accepted a DSN to a remote host without verified TLS (%s)", dsn[len(dsn)-20:])
		} else if !strings.Contains(err.Error(), "env:TEST_DSN") || !strings.Contains(err.Error(), "verify-full") ||
			strings.Contains(err.Error(), "db.example") || strings.Contains(err.Error(), "pw") {
			t.Errorf("the error must name the reference and sslmode, never the DSN: %v", err)
		}
	}
	for _, dsn := range []string{
		"postgres://exchanged:pw@db.example:5432/exchanged?sslmode=verify-full",
		"postgres://exchanged:pw@db.example:5432/exchanged?sslmode=verify-ca",
		"postgres://exchanged:pw@127.0.0.1:5432/exchanged",
		"postgres://exchanged:pw@[::1]:5432/exchanged?sslmode=disable",
		"postgres://exchanged:pw@localhost/exchanged",
		"host=/run/postgresql user=exchanged dbname=exchanged",
	} {
		t.Setenv("TEST_DSN", dsn)
		if _, err := parseString(t, baseYAML+"ledger:\n  postgres: env:TEST_DSN\n  key: env:TEST_LEDGER_KEY\n"); err != nil {
			t.Errorf("refused a DSN with verified TLS or to a local host: %v", err)
		}
	}
}
