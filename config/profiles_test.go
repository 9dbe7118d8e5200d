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
