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

// Delivery states.
const (
	DeliveryStarted   = "started"   // temp name recorded, upload may be under way
	DeliveryUploaded  = "uploaded"  // complete under the temp name, size checked; not yet renamed
	DeliveryDelivered = "delivered" // renamed to its final name and verified
)

// Sentinel errors. Test for them with errors.Is: the errors returned wrap
// them with the operation and the row id.
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
}

// Delivery is one file's delivery to one destination.
type Delivery struct {
	ID          int64
	FileID      int64
	Index       int // destination index within the job, -1 for a reject report
	Partner     string
	Dir         string
	Name        string // final name
	TempName    string // name uploaded to before the rename
	Size        int64
	SHA256      string
	State       string
	StartedAt   time.Time
	DeliveredAt time.Time
}

// Disclosure is one delivered file that carried a data subject: who
// received it, where, under which name and when.
type Disclosure struct {
	Job         string
	FileID      int64
	DeliveryID  int64
	Index       int    // destination index within the job, -1 for a reject report
	Partner     string // the recipient
	Dir         string
	Name        string // final name
	SHA256      string
	DeliveredAt time.Time
}

// Run is one execution of a job.
type Run struct {
	ID         int64
	Job        string
	StartedAt  time.Time
	FinishedAt time.Time
	Outcome    string // "ok", "failed", "" while running
	Files      int
	Error      string
}
