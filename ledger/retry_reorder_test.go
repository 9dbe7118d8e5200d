package ledger

import (
	"strings"
	"testing"
	"time"
)

// deliveredAndBegun stages c.csv with output 0 delivered to cases:/inbox
// and output 1 begun to other:/in.
func deliveredAndBegun(t *testing.T, l *Ledger) (file, d0, d1 int64) {
	t.Helper()
	file = stage(t, l, newFile("c.csv"))
	if err := l.SetState(file, StateTransformed); err != nil {
		t.Fatal(err)
	}
	d0, err := l.StartDelivery(&Delivery{FileID: file, Index: 0, Partner: "cases", Dir: "/inbox", Name: "c.csv", TempName: ".t0", Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.MarkUploaded(d0); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkDelivered(d0, 1, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if d1, err = l.StartDelivery(&Delivery{FileID: file, Index: 1, Partner: "other", Dir: "/in", Name: "c.csv", TempName: ".t1", Size: 1}); err != nil {
		t.Fatal(err)
	}
	return file, d0, d1
}

// Destinations reordered after output 0 went: a retry cannot tell which
// partner still needs the file, and refuses, changing nothing (before,
// it superseded output 1 only, and the next run sent a second copy to
// cases and none to other).
func TestRetryRefusesReorderedDestinations(t *testing.T) {
	forEachBackend(t, testRetryRefusesReorderedDestinations)
}

func testRetryRefusesReorderedDestinations(t *testing.T) {
	l, _ := openTemp(t)
	file, d0, d1 := deliveredAndBegun(t, l)
	for _, cur := range [][]Destination{
		{{Index: 0, Partner: "other", Dir: "/in"}, {Index: 1, Partner: "cases", Dir: "/inbox"}},     // swapped
		{{Index: 0, Partner: "cases", Dir: "/inbox"}, {Index: 1, Partner: "cases", Dir: "/inbox/"}}, // 1 now where 0 went
	} {
		_, err := l.Retry(file, cur, "jan", "")
		wantErr(t, err, ErrState)
		if err != nil && !strings.Contains(err.Error(), "abandon") {
			t.Errorf("refusal %q does not point to abandon", err)
		}
		ds, _ := l.AllDeliveries(file)
		if len(ds) != 2 || ds[0].ID != d0 || ds[1].ID != d1 || !ds[1].SupersededAt.IsZero() {
			t.Errorf("deliveries after a refused retry = %+v", ds)
		}
	}
	if as, _ := l.FileActions(file); len(as) != 0 {
		t.Errorf("actions recorded by refused retries: %+v", as)
	}
	verifyOK(t, l)
}

// An unfinished delivery at an index the config no longer names is
// superseded and reported, never ignored; "/in/" is "/in".
func TestRetrySupersedesDroppedIndex(t *testing.T) {
	forEachBackend(t, testRetrySupersedesDroppedIndex)
}

func testRetrySupersedesDroppedIndex(t *testing.T) {
	l, _ := openTemp(t)
	file, _, d1 := deliveredAndBegun(t, l)
	res, err := l.Retry(file, []Destination{{Index: 0, Partner: "cases", Dir: "/inbox/"}}, "jan", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Superseded) != 1 || res.Superseded[0].ID != d1 {
		t.Fatalf("Superseded = %+v, want delivery %d", res.Superseded, d1)
	}
	if ds, _ := l.Deliveries(file); len(ds) != 1 || ds[0].Index != 0 || ds[0].State != DeliveryDelivered {
		t.Errorf("current deliveries = %+v", ds)
	}
	verifyOK(t, l)
}
