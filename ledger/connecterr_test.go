package ledger

import (
	"strings"
	"testing"

	"github.com/exchanged/exchanged/internal/pgtest"
)

// The docs say an error names the reference, never the DSN; the
// connect error repeats the DSN's user and database (and host:port).
func TestConnectErrorNamesNoDSNParts(t *testing.T) {
	dsn := pgtest.DSN(t)
	at := strings.LastIndex(dsn, "@")
	colon := strings.LastIndex(dsn[:at], ":")
	wrong := dsn[:colon+1] + "x" + dsn[colon+1:]
	_, err := OpenPostgres(wrong, testKey(dsn))
	if err == nil {
		t.Fatal("opened")
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), "exchanged_test") {
		t.Errorf("the error names the DSN's user: %v", err)
	}
	if !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("the error does not name the failure class: %v", err)
	}
}
