package transform

import (
	"slices"
	"testing"
)

// Categories names every group, and every field of every record has one.
func TestCategories(t *testing.T) {
	for g := range groups {
		if !slices.Contains(Categories, g) {
			t.Errorf("group %s missing from Categories", g)
		}
	}
	if len(Categories) != len(groups) {
		t.Errorf("Categories %v, groups %d", Categories, len(groups))
	}
	for _, r := range Records {
		for _, f := range Fields(r) {
			if Category(f) == "" {
				t.Errorf("%s.%s has no category", r, f)
			}
		}
	}
	if Category("iban") != "bank" || Category("bsn") != "" {
		t.Errorf("iban %q, bsn %q", Category("iban"), Category("bsn"))
	}
}
