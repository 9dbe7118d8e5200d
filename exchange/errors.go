package exchange

import "errors"

// Errors of this package. Callers test them with errors.Is; the
// endpoints' own are in package endpoint, which classifies them all.
var (
	// ErrNameTooLong is returned, wrapped with the destination, for a
	// source file whose name, or a name exchanged makes from it at a
	// destination (its done marker, checksum sidecar, reject report), would
	// be longer than endpoint.MaxName bytes. Such a file cannot be
	// delivered: it is refused when seen and left at the source.
	ErrNameTooLong = errors.New("exchange: file name too long for a destination")

	// ErrStateDirInUse is returned by LockStateDir when another process holds
	// the state directory: two processes on one ledger and staging could
	// resume the same delivery at once.
	ErrStateDirInUse = errors.New("exchange: state_dir is in use by another exchanged process")

	// ErrFilesFailed is returned by Run when some files failed a step, or were
	// refused at the source; they stay staged or at the source, and are tried
	// again on the next run.
	ErrFilesFailed = errors.New("exchange: files failed")

	// ErrDestinationTaken is returned when a destination already holds a file
	// under the final name. Nothing is overwritten: the upload waits under its
	// temporary name and the rename is tried again next run, once the partner
	// has taken its earlier file.
	ErrDestinationTaken = errors.New("exchange: destination already has a file of that name")

	// ErrDestinationChanged is returned when a delivery under way was begun
	// for another partner or directory than the job now names at its index
	// (the config was reloaded in between). Nothing is sent; the file stays
	// staged for ops to resolve: "exchanged files retry" supersedes the old
	// delivery (kept on record, what its destination may hold reported)
	// and the next run begins a fresh one.
	ErrDestinationChanged = errors.New("exchange: destination changed since the delivery began")

	// ErrPartialLeft is returned when a direct delivery was interrupted and
	// what may be a partial file stands under its final name at the partner,
	// who refuses to let us remove it. It is permanent: nothing is claimed
	// delivered, and ops asks the partner to remove the file; the next run
	// then writes it whole.
	ErrPartialLeft = errors.New("exchange: an interrupted upload left a possibly partial file that the partner will not let us remove")

	// ErrMayStand is returned when a delivery uploaded under its temp name
	// may already have been renamed to its final name (and even taken by
	// the partner), and the partner refuses what would tell: the temp file
	// cannot be looked at. It is permanent (marked with
	// endpoint.Permanent, which endpoint.Classify reads): nothing is sent
	// again while it may stand, in either mode; ops asks the partner
	// whether the file stands or was taken, or to allow a stat of the temp
	// file.
	ErrMayStand = errors.New("exchange: a delivery may already stand under its final name")

	// errFileRejected is returned by prepare when a file was rejected whole
	// and is finished with: its reject report delivered, its staging removed.
	errFileRejected = errors.New("exchange: file rejected")
)
