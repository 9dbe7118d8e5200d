package exchange

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// The transfer budget bounds the memory of the transfers in flight in the
// whole process, however many files the runs of every job move at once. A
// transfer that moves bytes (the staging copy of a source file, the upload
// or write of an output) takes the weight of its size, clamped between
// budgetFloor and budgetPerTransfer, once its file is open at both ends
// and just before the first byte moves, and gives it back when the copy
// ends. Taken then, a transfer waits for budget holding nothing but an
// open file, and never holds budget while it waits for a connection slot
// (which a run waiting for budget may hold), nor for any other weight:
// stage, give back, then deliver. A delivery in upload: direct takes it
// before it creates its file, so that no empty file stands under the
// final name while it waits; it connects first, so that it never holds
// budget while it waits for a connection slot.
//
// A large transfer costs up to budgetPerTransfer: pkg/sftp keeps 8 MiB of
// requests in flight per file (endpoint/sftp: inflightPerFile), against
// which the sealed staging's few 256 KiB chunks and io.Copy's buffer are
// small. budgetLarge lets four of them move at once. Small transfers (a
// weight of at most budgetSmallMax) take from a reserve of their own
// first, without waiting, so that files of a few KiB are not queued
// behind a large one waiting for its turn: x/sync's semaphore serves its
// waiters in order. Only with the reserve taken do they join that queue.
const (
	budgetFloor       = 64 << 10
	budgetPerTransfer = 8 << 20
	budgetLarge       = 4 * budgetPerTransfer
	budgetSmallMax    = 4 * budgetFloor
	budgetSmall       = 64 * budgetFloor // 64 small transfers at once
)

type budget struct {
	large *semaphore.Weighted
	small *semaphore.Weighted
	// waiting, if set, is told of every transfer about to wait (tests).
	waiting func(weight int64)
}

func newBudget() *budget {
	return &budget{large: semaphore.NewWeighted(budgetLarge), small: semaphore.NewWeighted(budgetSmall)}
}

// transferWeight returns the budget a transfer of size bytes takes: an
// empty file the least, a size unknown (below 0) a large one's.
func transferWeight(size int64) int64 {
	if size < 0 {
		return budgetPerTransfer
	}
	return min(max(size, budgetFloor), budgetPerTransfer)
}

// take waits until a transfer of size bytes fits in the budget, or ctx
// ends, and returns the function that gives its weight back.
func (b *budget) take(ctx context.Context, size int64) (release func(), err error) {
	w := transferWeight(size)
	if w <= budgetSmallMax && b.small.TryAcquire(w) {
		return func() { b.small.Release(w) }, nil
	}
	if b.waiting != nil {
		if b.large.TryAcquire(w) {
			return func() { b.large.Release(w) }, nil
		}
		b.waiting(w)
	}
	if err := b.large.Acquire(ctx, w); err != nil {
		return nil, err
	}
	return func() { b.large.Release(w) }, nil
}
