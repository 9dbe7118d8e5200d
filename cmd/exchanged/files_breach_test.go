package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/ledger"
)

// A delivery superseded to another partner, bytes of which may have
// left, is a possible breach: the report names it and gives the breach
// command; one whose partner stays, or that sent nothing, is not.
func TestSupersededToAnotherPartnerIsPossibleBreach(t *testing.T) {
	dests := []ledger.Destination{{Index: 0, Partner: "cases", Dir: "/inbox"}}
	for _, tc := range []struct {
		d    ledger.Delivery
		want string
	}{
		{ledger.Delivery{Index: 0, Partner: "gdw", Dir: "/in", Name: "c.csv", Mode: ledger.ModeTemp, State: ledger.DeliveryUploaded},
			"exchanged breach --partner gdw --file c.csv"},
		{ledger.Delivery{Index: 0, Partner: "gdw", Dir: "/in", Name: "c.csv", Mode: ledger.ModeDirect, State: ledger.DeliveryStarted},
			"exchanged breach --partner gdw --file c.csv"},
		{ledger.Delivery{Index: 0, Partner: "gdw", Dir: "/in", Name: "c.csv", Mode: ledger.ModeTemp, State: ledger.DeliveryStarted}, ""},
		{ledger.Delivery{Index: 0, Partner: "cases", Dir: "/wrong", Name: "c.csv", Mode: ledger.ModeDirect, State: ledger.DeliveryWriting}, ""},
	} {
		if got := breachHint(tc.d, dests); got != tc.want {
			t.Errorf("breachHint(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	var b bytes.Buffer
	printAction(&b, &actionReport{Action: "retry", Superseded: []oldDelivery{{DeliveryID: 3, Partner: "gdw", Dir: "/in",
		Breach: "exchanged breach --partner gdw --file c.csv"}}})
	if !strings.Contains(b.String(), "POSSIBLE DATA BREACH") || !strings.Contains(b.String(), "exchanged breach --partner gdw --file c.csv") {
		t.Errorf("report:\n%s", b.String())
	}
}

// An abandon reports as removed only what is gone from staging.
func TestAbandonReportsOnlyWhatWasRemoved(t *testing.T) {
	if got := removed([]string{"3.src", "3/.out-0-cases.csv"}, []string{"3/.out-0-cases.csv"}); len(got) != 1 || got[0] != "3.src" {
		t.Errorf("removed = %v, want [3.src]", got)
	}
	var b bytes.Buffer
	printAction(&b, &actionReport{Action: "abandon", Staging: []string{}, StagingErr: "permission denied (swept at the next start)"})
	if s := b.String(); strings.Contains(s, "staging removed") || strings.Contains(s, "nothing was staged") ||
		!strings.Contains(s, "staging: nothing was removed") || !strings.Contains(s, "NOT wholly removed") {
		t.Errorf("report of a failed removal:\n%s", s)
	}
}

// A --by too long for the actor recorded, or one with a control
// character, and a bad reason, are usage errors before anything is
// opened.
func TestFilesRefusesBadByAndReason(t *testing.T) {
	for _, args := range [][]string{
		{"retry", "--by", strings.Repeat("x", maxByLen+1), "1"},
		{"retry", "--by", "jan\nINFO forged", "1"},
		{"retry", "--reason", "two\nlines", "1"},
		{"abandon", "--reason", strings.Repeat("x", ledger.MaxReasonLen+1), "1"},
	} {
		err := (&FilesCommand{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}).Run(context.Background(),
			append(args, "--config", "/nonexistent/exchanged.yaml"))
		if !errors.Is(err, errUsage) {
			t.Errorf("files %q: %v, want a usage error", args, err)
		}
	}
}
