package config

import (
	"net"
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

// RolePermits reports whether a partner of role may receive files minimized
// to profile: internal receives any profile, a bailiff only "bailiff", a
// lawyer only "lawyer", a creditor only "creditor-status" or
// "creditor-payment". This is the privacy rule Validate enforces per
// destination; exchange may check it again before a file leaves.
func RolePermits(role, profile string) bool {
	switch role {
	case RoleInternal:
		return isProfile(profile)
	case RoleBailiff:
		return profile == ProfileBailiff
	case RoleLawyer:
		return profile == ProfileLawyer
	case RoleCreditor:
		return profile == ProfileCreditorStatus || profile == ProfileCreditorPayment
	}
	return false
}

func isProfile(p string) bool {
	switch p {
	case ProfileInternal, ProfileBailiff, ProfileLawyer, ProfileCreditorStatus, ProfileCreditorPayment:
		return true
	}
	return false
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
