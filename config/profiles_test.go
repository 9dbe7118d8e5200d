package config_test

import (
	"slices"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/transform"
)

// TestProfilesMatchTransform: config and transform name the same built-in
// profiles: config says who may receive each, transform which fields each
// carries. Only this test imports both.
func TestProfilesMatchTransform(t *testing.T) {
	if got := config.RoleProfiles(config.RoleInternal); !slices.Equal(got, transform.Profiles) {
		t.Errorf("config's profiles %v, transform's %v", got, transform.Profiles)
	}
	for _, p := range transform.Profiles {
		if _, err := transform.BuiltinProfile(p); err != nil {
			t.Errorf("transform.BuiltinProfile(%q): %v", p, err)
		}
	}
}

// TestRolePermitsIsProfileAllowed: transform.ProfileAllowed, which exchange
// still calls before a file leaves, gives config.RolePermits's verdict for
// every role and profile.
func TestRolePermitsIsProfileAllowed(t *testing.T) {
	roles := []string{config.RoleInternal, config.RoleBailiff, config.RoleLawyer, config.RoleCreditor, "debtor", ""}
	for _, role := range roles {
		for _, p := range append(slices.Clone(transform.Profiles), "unknown", "") {
			if c, tr := config.RolePermits(role, p), transform.ProfileAllowed(role, p); c != tr {
				t.Errorf("role %q, profile %q: config.RolePermits %v, transform.ProfileAllowed %v", role, p, c, tr)
			}
		}
	}
}
