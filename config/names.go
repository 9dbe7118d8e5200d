package config

import (
	"net"
	"slices"
	"strconv"
)

// Profiles: the fields one recipient role may receive (Transform.Profile,
// Destination.Profile).
const (
	ProfileInternal        = "internal"
	ProfileBailiff         = "bailiff"
	ProfileLawyer          = "lawyer"
	ProfileCreditorStatus  = "creditor-status"
	ProfileCreditorPayment = "creditor-payment"
)

// Canonical records (Layout.Record). Each is also the name of a built-in
// layout: our own CSV of that record, usable as transform.layout.
const (
	RecordClaim   = "claim"
	RecordPayment = "payment"
	RecordStatus  = "status"
)

// Charsets a layout may read (Layout.Charset).
const (
	CharsetUTF8        = "utf-8"
	CharsetWindows1252 = "windows-1252"
)

// profiles lists the built-in profiles. Package transform defines the
// fields of each (transform.BuiltinProfile); a test proves both name the
// same profiles.
var profiles = []string{ProfileInternal, ProfileBailiff, ProfileLawyer, ProfileCreditorStatus, ProfileCreditorPayment}

// roleProfiles is the privacy rule of who may receive what, and its one
// home: the profiles a partner of each role may receive. A role not here
// receives none.
var roleProfiles = map[string][]string{
	RoleInternal: profiles,
	RoleBailiff:  {ProfileBailiff},
	RoleLawyer:   {ProfileLawyer},
	RoleCreditor: {ProfileCreditorStatus, ProfileCreditorPayment},
}

// RoleProfiles returns the profiles a partner of role may receive, in a new
// slice: every profile for internal, "bailiff" for a bailiff, "lawyer" for
// a lawyer, "creditor-status" and "creditor-payment" for a creditor, and
// none for any other role.
func RoleProfiles(role string) []string {
	return slices.Clone(roleProfiles[role])
}

// RolePermits reports whether a partner of role may receive files minimized
// to profile, by the table RoleProfiles returns. Validate enforces it per
// destination; exchange checks it again before a file leaves.
func RolePermits(role, profile string) bool {
	return slices.Contains(roleProfiles[role], profile)
}

// isProfile reports whether p names a built-in profile.
func isProfile(p string) bool {
	return slices.Contains(profiles, p)
}

// IsBuiltinLayout reports whether name is a built-in layout: a record name
// (claim, payment, status), meaning our own canonical CSV of that record.
func IsBuiltinLayout(name string) bool {
	return name == RecordClaim || name == RecordPayment || name == RecordStatus
}

// Partner returns the partner called name, or nil.
func (c *Config) Partner(name string) *Partner {
	return c.Partners[name]
}

// ProfileFor returns the profile that files of job j are minimized to for
// destination d: d.Profile when set, else the job's transform.profile. It
// returns "" when j has no transform: files pass unchanged.
func (c *Config) ProfileFor(j *Job, d *Destination) string {
	if j == nil || j.Transform == nil {
		return ""
	}
	if d != nil && d.Profile != "" {
		return d.Profile
	}
	return j.Transform.Profile
}

// Address returns host:port for dialing, with IPv6 hosts bracketed.
func (s *SFTP) Address() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}
