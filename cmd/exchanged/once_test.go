package main

import (
	"strings"
	"testing"
)

// once with a job the config does not have refuses with exit 2 and names
// the jobs it has, so that a typo needs no look in the config.
func TestOnceUnknownJobListsJobs(t *testing.T) {
	cfg := privacyConfig(t, t.TempDir())
	r := exchanged(t, nil, "once", "--config", cfg, "claims-inn")
	if r.code != 2 || !strings.Contains(r.stderr, `no job "claims-inn"`) ||
		!strings.Contains(r.stderr, "its jobs: claims-in, docs-out, handover-adv, handover-gdw, payments-out") {
		t.Fatalf("once with an unknown job: %+v", r)
	}
}
