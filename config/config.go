package config

import "time"

// Version is the only config format version this build reads.
const Version = 1

// Roles a partner may have.
const (
	RoleCreditor = "creditor"
	RoleBailiff  = "bailiff"
	RoleLawyer   = "lawyer"
	RoleInternal = "internal"
)

// Delivery modes (Destination.Upload).
const (
	// UploadTemp writes a file under a hidden temporary name, checks its
	// size, and renames it to its final name: the partner never sees a
	// partial file. The partner's server must allow create, write, stat,
	// rename (or hardlink@openssh.com) and remove in the directory.
	UploadTemp = "temp"
	// UploadDirect writes a file under its final name, created exclusively,
	// then the done marker if one is set: for write-only drop folders that
	// allow nothing but creating and writing a new file.
	UploadDirect = "direct"
)

// Source post-actions (Source.After); a move is "move:/dir".
const (
	AfterDelete = "delete"
	AfterKeep   = "keep"
)

// Config is a whole, validated configuration.
type Config struct {
	Version   int                 `yaml:"version"`
	Timezone  string              `yaml:"timezone"`  // default Europe/Amsterdam
	StateDir  string              `yaml:"state_dir"` // required; staging/ and ledger.db live here
	Log       Log                 `yaml:"log"`
	HTTP      HTTP                `yaml:"http"`
	Runs      Runs                `yaml:"runs"`
	Retention Retention           `yaml:"retention"`
	Staging   Staging             `yaml:"staging"`
	Ledger    Ledger              `yaml:"ledger"`  // default state_dir/ledger.db (SQLite)
	Cluster   *Cluster            `yaml:"cluster"` // several nodes on one PostgreSQL ledger; nil: one
	Partners  map[string]*Partner `yaml:"partners"`
	Jobs      map[string]*Job     `yaml:"jobs"`
	Layouts   map[string]*Layout  `yaml:"layouts"`

	// Location is Timezone, loaded. Set by Parse.
	Location *time.Location `yaml:"-"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error; default info
	Format string `yaml:"format"` // json | console | journald; default json
}

// LogLevels and LogFormats are the values log.level and log.format take.
// journald is JSON with each line's priority before it ("<3>{...}").
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"json", "console", "journald"}
)

// HTTP configures the ops endpoint.
type HTTP struct {
	// Listen is the address of /healthz, /readyz and /metrics.
	// Default 127.0.0.1:9464; an explicit "" turns it off.
	Listen *string `yaml:"listen"`
	// Hosts are the host names, beside IP addresses, localhost and the
	// host of Listen, by which a browser or client may ask for the status
	// page, /files and POST /jobs/NAME/run (a DNS rebinding guard).
	Hosts []string `yaml:"hosts"`
}

// Staging is how files are kept at rest between pull and delivery: sealed
// (encrypted and authenticated) under Key, or, without one, under a key
// generated at first start into state_dir/staging.key.
type Staging struct {
	// Key is a secret reference (env:NAME or file:/path) to a staging
	// key file: one or more EXCHANGED-STAGING-KEY-1:<base64 of 32 bytes>
	// lines, the first of which seals; every one opens (a new key goes first, the old one
	// stays until staging holds nothing sealed under it).
	Key Secret `yaml:"key"`
}

// Runs is how the daemon runs jobs: how many at once, how a transient
// failure is retried within a run, and when a failing job is alerted on.
type Runs struct {
	MaxConcurrent int      `yaml:"max_concurrent"` // runs at once over all jobs; default 4; 0: no limit
	Jitter        Duration `yaml:"jitter"`         // a scheduled run first waits a random [0, jitter); default 0s
	Retry         Retry    `yaml:"retry"`
	AlertAfter    int      `yaml:"alert_after"`    // failed runs in a row before a "job failing" error event; default 3
	ParallelFiles int      `yaml:"parallel_files"` // files of one run on their way at once; default 8; 1: one at a time
}

// Retry is how a run retries a step that failed for a transient reason
// (connection refused or lost, timeout). Permanent failures are never
// retried.
type Retry struct {
	Attempts   int      `yaml:"attempts"`    // tries per step and run, the first included; default 3; 1: no retries
	Backoff    Duration `yaml:"backoff"`     // wait before the second try, doubled before each next; default 2s
	MaxBackoff Duration `yaml:"max_backoff"` // cap on one wait; default 1m
}

// Partner is a creditor, bailiff, lawyer or the agency's own system.
// Exactly one of SFTP and Local is set.
type Partner struct {
	Name  string `yaml:"-"` // the map key, set by Parse
	Role  string `yaml:"role"`
	SFTP  *SFTP  `yaml:"sftp"`
	Local *Local `yaml:"local"`

	// Country is where the partner keeps the data it receives, ISO 3166-1
	// alpha-2 ("NL"); default DefaultCountry, assumed. Outside the EU/EEA
	// Transfer is required. Contact is whom to notify at the partner
	// organisation (a rectification, an erasure): free text, e.g.
	// "privacy@jansen.example". See privacy.go.
	Country  string    `yaml:"country"`
	Transfer *Transfer `yaml:"transfer"`
	Contact  string    `yaml:"contact"`
}

// SFTP is a partner's SFTP server.
type SFTP struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"` // default 22
	User string `yaml:"user"`

	// Exactly one of PrivateKey and Password. Both are secret references
	// (env:NAME or file:/path), expanded by Parse into the Secret values.
	PrivateKey Secret `yaml:"private_key"`
	Passphrase Secret `yaml:"passphrase"` // for an encrypted private key
	Password   Secret `yaml:"password"`

	// Exactly one of KnownHosts (a known_hosts file) and HostKey
	// (one of the server's host keys, pinned: see ParseHostKey).
	KnownHosts string `yaml:"known_hosts"`
	HostKey    string `yaml:"host_key"`

	Timeout   Duration `yaml:"timeout"`   // dial and handshake; default 30s
	KeepAlive Duration `yaml:"keepalive"` // default 30s; 0s turns keep-alives off
	MaxConns  int      `yaml:"max_conns"` // per-partner concurrent connections; default 2
}

// Local is a partner whose files live in a local directory tree. Job
// directories are relative to Root.
type Local struct {
	Root string `yaml:"root"`
}

// Job is one route: a source, an optional transform, one or more
// destinations, on a schedule.
type Job struct {
	Name         string         `yaml:"-"`       // the map key, set by Parse
	Purpose      string         `yaml:"purpose"` // why, for the processing register (AVG art. 30); optional
	Schedule     string         `yaml:"schedule"`
	Source       Source         `yaml:"source"`
	Transform    *Transform     `yaml:"transform"`
	Rejects      *Destination   `yaml:"rejects"`
	Destinations []*Destination `yaml:"destinations"`
	Expect       *Expect        `yaml:"expect"` // when a file is due; nil: none is ever overdue
}

// Source is where a job's files come from.
type Source struct {
	Partner string `yaml:"partner"`
	Dir     string `yaml:"dir"`
	Match   string `yaml:"match"` // path.Match pattern; default "*"

	// A file is settled when its size and mtime are unchanged across
	// Settle, or, when DoneMarker is set, when name+DoneMarker exists.
	Settle     *Duration `yaml:"settle"` // default 30s when no done_marker
	DoneMarker string    `yaml:"done_marker"`

	// After is what happens to the source file once staged and recorded:
	// delete | keep | move:/dir. Default delete.
	After string `yaml:"after"`

	// PGP, if set, decrypts each file with the agency's key (and checks
	// its signer) before anything is made of it; see pgp.go.
	PGP *PGPIn `yaml:"pgp"`
}

// MoveDir returns the directory of a "move:DIR" post-action, or "".
func (s Source) MoveDir() string {
	if len(s.After) > len("move:") && s.After[:5] == "move:" {
		return s.After[5:]
	}
	return ""
}

// Transform names the layout a job's files are read with and the profile
// they are minimized to. A job without a transform passes files unchanged.
type Transform struct {
	Layout  string `yaml:"layout"`
	Profile string `yaml:"profile"`
}

// Destination is where a job delivers.
type Destination struct {
	Partner    string  `yaml:"partner"`
	Dir        string  `yaml:"dir"`
	DoneMarker string  `yaml:"done_marker"` // e.g. ".done": an empty name+marker after the file
	Checksum   bool    `yaml:"checksum"`    // write name.sha256 beside the file
	Profile    string  `yaml:"profile"`     // overrides the job's transform.profile for this destination
	Format     *Format `yaml:"format"`      // how this recipient wants its file written; only with a transform
	Upload     string  `yaml:"upload"`      // temp | direct; default temp
	PGP        *PGPOut `yaml:"pgp"`         // encrypt (and sign) to the partner; see pgp.go
}

// UploadMode returns how files are written to d: d.Upload, or
// DefaultUpload for a Destination built without Parse.
func (d *Destination) UploadMode() string {
	if d.Upload == "" {
		return DefaultUpload
	}
	return d.Upload
}

// Format is how one recipient wants its CSV written. Absent keys keep the
// canonical form: ",", UTF-8, ".", 2006-01-02, canonical header names.
type Format struct {
	Delimiter string            `yaml:"delimiter"` // ";" "," "\t" "|"; default ","
	Charset   string            `yaml:"charset"`   // utf-8 | utf-8-bom (for Excel) | windows-1252; default utf-8
	Decimal   string            `yaml:"decimal"`   // "," or "."; default "."
	Date      string            `yaml:"date"`      // Go layout; default 2006-01-02
	Headers   map[string]string `yaml:"headers"`   // canonical field -> header name written
}

// Layout is how one creditor's CSV maps onto a canonical record.
type Layout struct {
	Name      string            `yaml:"-"`
	Record    string            `yaml:"record"`    // claim | payment | status
	Delimiter string            `yaml:"delimiter"` // ";" "," "\t" or "" (detect)
	Charset   string            `yaml:"charset"`   // utf-8 | windows-1252; default utf-8
	Decimal   string            `yaml:"decimal"`   // "," or "."; default "."
	Date      string            `yaml:"date"`      // Go layout; default 2006-01-02
	Columns   map[string]string `yaml:"columns"`   // header -> canonical field
	Required  []string          `yaml:"required"`
	// Creditor names the creditor partner every row of a file read with
	// this layout belongs to, when the file has no creditor column: the
	// key of its data subjects' pseudonyms. "" = the row's creditor field,
	// else the source partner if it is a creditor.
	Creditor string `yaml:"creditor"`
}

// Secret is a secret reference: its Ref as written (env:NAME, file:/path)
// and, after Parse, its Value. String and MarshalText never show Value.
type Secret struct {
	Ref   string
	Value []byte
}

// String returns the reference, never the value.
func (s Secret) String() string { return s.Ref }

// IsSet reports whether a reference was given.
func (s Secret) IsSet() bool { return s.Ref != "" }

// Duration is a time.Duration written as "30s", "5m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
