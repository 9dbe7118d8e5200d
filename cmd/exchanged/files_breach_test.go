package main

import (
	"bytes"
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
