package main

import (
	"strings"
	"testing"
)

// TestExampleConfigValidates: the example config the README walks through
// passes "exchanged config validate", transform checks included, with its
// secret references set, and names every job.
func TestExampleConfigValidates(t *testing.T) {
	env := []string{"ZUIDERZEE_SSH_KEY=k", "JANSEN_SSH_KEY=k", "JANSEN_SSH_PASSPHRASE=p", "BAKKER_SFTP_PASSWORD=pw"}
	r := exchanged(t, env, "config", "validate", "--config", "../../testdata/exchanged.example.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "ok: 4 partner(s), 6 job(s), 2 layout(s)") {
		t.Fatalf("example config: %+v", r)
	}
	for _, job := range []string{"zuiderzee-claims-in", "handover-gdw-jansen", "handover-bakker-advocaten",
		"zuiderzee-payments-out", "zuiderzee-status-out", "gdw-jansen-returns"} {
		if !strings.Contains(r.stdout, job) {
			t.Errorf("validate output lacks job %s:\n%s", job, r.stdout)
		}
	}
	// Without its secrets it is refused, naming each reference, never a value.
	r = exchanged(t, []string{"ZUIDERZEE_SSH_KEY=", "JANSEN_SSH_KEY=", "JANSEN_SSH_PASSPHRASE=", "BAKKER_SFTP_PASSWORD="},
		"config", "validate", "--config", "../../testdata/exchanged.example.yaml")
	if r.code != exitUsage || !strings.Contains(r.stderr, "BAKKER_SFTP_PASSWORD") {
		t.Fatalf("example config without its secrets: %+v", r)
	}
}
