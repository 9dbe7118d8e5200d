package exchange

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
)

// An empty file moves no bytes: it is small, staged and delivered from the
// reserve of the small ones, never queued behind large transfers for a
// large one's weight. With every large transfer's budget held, it is
// delivered without waiting.
func TestTransferBudgetEmptyFileIsSmall(t *testing.T) {
	for _, mode := range []string{config.UploadTemp, config.UploadDirect} {
		t.Run(mode, func(t *testing.T) {
			g, in, out := localRig(t, config.Source{}, &config.Destination{Partner: "cases", Dir: "/inbox", Upload: mode})
			if err := os.WriteFile(filepath.Join(in, "outbox", "empty.csv"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			b := g.runner.budget
			if !b.large.TryAcquire(budgetLarge) {
				t.Fatal("budget not free")
			}
			defer b.large.Release(budgetLarge)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var waited []int64
			b.waiting = func(w int64) { waited = append(waited, w); cancel() }
			res, err := g.runner.Run(ctx, "j")
			if err != nil || res.Delivered != 1 || len(waited) != 0 {
				t.Fatalf("run with the large budget held = %+v, %v; an empty file waited for weights %v", res, err, waited)
			}
			checkDelivered(t, g, "j", filepath.Join(out, "inbox"), map[string][]byte{"empty.csv": {}}, 1)
		})
	}
}
