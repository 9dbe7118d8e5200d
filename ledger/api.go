package ledger

import (
	"errors"
	"time"
)

// File states, in the order a file goes through them. A file is pending
// until it is Done or Rejected.
const (
	StateStaging     = "staging"     // row written, staged copy not yet durable
	StateStaged      = "staged"      // staged copy durable, sha256 known; source not yet cleaned
	StateCleaned     = "cleaned"     // source post-action done
	StateTransformed = "transformed" // outputs for every destination are in staging
	StateDone        = "done"        // every destination has it, staging removed
	StateRejected    = "rejected"    // rejected whole (unparseable, BSN); staging removed
)

// Delivery states. A delivery is recorded (started) before any byte
// leaves for its partner; from then on it is a disclosure, sent and, once
// delivered, confirmed.
const (
	DeliveryStarted   = "started"   // recorded before the upload; bytes may be on their way
	DeliveryCreating  = "creating"  // direct: the create of the final file is sent, its answer not yet known
	DeliveryWriting   = "writing"   // direct: the final file was created by us, maybe partial
	DeliveryUploaded  = "uploaded"  // complete: under the temp name, size checked (temp), or under the final name (direct)
	DeliveryDelivered = "delivered" // under its final name, verified, sidecars written
)

// Delivery modes: how a delivery writes its file.
const (
	ModeTemp   = "temp"   // under TempName, then renamed to Name
	ModeDirect = "direct" // under Name itself, created exclusively
)

// Disclosure states.
const (
	DisclosureSent      = "sent"      // the delivery began: the partner may hold some or all of the file
	DisclosureConfirmed = "confirmed" // the delivery is verified delivered
)

// The sentinel errors of package ledger. Test for them with errors.Is: the
// errors returned wrap them with the operation and the row id.
var (
	// ErrNotFound is returned when no row matches.
	ErrNotFound = errors.New("ledger: not found")
	// ErrExists is returned when a file with the same identity, or a
	// delivery with the same file and index, is already recorded.
	ErrExists = errors.New("ledger: already recorded")
	// ErrState is returned for a move the state machine does not allow: a
	// backward or unknown file state, deleting a file past StateStaging,
	// delivering a delivery twice with a different result.
	ErrState = errors.New("ledger: state change not allowed")
	// ErrSizeMismatch is returned by MarkStaged when the staged copy's size
	// differs from the size listed at the source: the file changed while it
	// was copied, and the staged copy is not the listed file.
	ErrSizeMismatch = errors.New("ledger: staged size differs from listed size")
	// ErrKey is returned by Open when the pseudonym key file is missing,
	// malformed, readable by others, or not the key the database's
	// pseudonyms were made with. Open never replaces a key silently: every
	// recorded pseudonym would stop matching.
	ErrKey = errors.New("ledger: pseudonym key")
	// ErrSchema is returned by OpenCurrent for a ledger whose schema
	// version is not the one this build knows, or whose audit chain is
	// not started: the daemon of this version must open it first.
	ErrSchema = errors.New("ledger: schema is not this build's")

	// errNotCommitted is a queued write's result until its transaction
	// commits: a write whose commit panicked keeps it.
	errNotCommitted = errors.New("ledger: write not committed")
)

// File is one source file's record.
type File struct {
	ID        int64
	Job       string
	Partner   string // source partner
	Dir       string // source directory
	Name      string // source file name
	Size      int64  // size as listed at the source
	ModTime   time.Time
	SHA256    string // hex; set once staged
	State     string
	Rows      int    // rows read by the transform
	Rejected  int    // rows rejected
	Error     string // last error; never personal data
	Attempts  int    // consecutive failed attempts
	SeenAt    time.Time
	UpdatedAt time.Time
	// In a cluster: the node that holds the staged copy ("" if none was
	// recorded, see SetStagedOn), and whether a rejection is over but for
	// the source's clean and the record (see MarkRejecting).
	StagedOn  string
	Rejecting bool
}

// Delivery is one file's delivery to one destination.
type Delivery struct {
	ID          int64
	FileID      int64
	Index       int // destination index within the job, -1 for a reject report
	Partner     string
	Dir         string
	Name        string // final name
	Mode        string // ModeTemp or ModeDirect; "" is ModeTemp
	TempName    string // name uploaded to before the rename; "" for a direct delivery
	Size        int64
	SHA256      string
	State       string
	StartedAt   time.Time
	DeliveredAt time.Time
	// SupersededAt is when an operator's retry gave the output a fresh
	// delivery because this one's destination is no longer the job's;
	// zero for a current delivery. A superseded delivery is never
	// resumed: it stays as the record of what its destination may hold.
	SupersededAt time.Time
}

// Disclosure is one file sent to a partner that carried a data subject:
// who received it, where, under which name and when. It is recorded
// before the first byte leaves (State DisclosureSent) and confirmed once
// the delivery is verified (DisclosureConfirmed): a partner that may hold
// the file is never missing, whether or not the delivery completed.
type Disclosure struct {
	Job         string
	FileID      int64
	DeliveryID  int64
	Index       int    // destination index within the job, -1 for a reject report
	Partner     string // the recipient
	Dir         string
	Name        string // final name
	SHA256      string
	State       string    // DisclosureSent or DisclosureConfirmed
	SentAt      time.Time // when the delivery began
	DeliveredAt time.Time // when it was confirmed; zero while only sent
}

// Run is one execution of a job.
type Run struct {
	ID         int64
	Job        string
	StartedAt  time.Time
	FinishedAt time.Time
	Outcome    string // "ok", "failed", "interrupted" (cut short by shutdown), "" while running or never finished
	Files      int
	Error      string
}
