package transform

import (
	"slices"
	"testing"
)

// Categories names every group but creditor (a partner's name, whose
// debtor a row is: no personal data, and never sent on), and every field
// of every record has a group.
func TestCategories(t *testing.T) {
	for g := range groups {
		if !slices.Contains(Categories, g) && g != "creditor" {
			t.Errorf("group %s missing from Categories", g)
		}
	}
	if len(Categories) != len(groups)-1 || slices.Contains(Categories, "creditor") {
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
