package transform

// Categories lists the categories of personal data, in the order a
// processing register names them. Every canonical field but creditor (a
// partner's name, never sent on) belongs to exactly one (Category), and a
// profile allows or drops whole categories.
var Categories = []string{"reference", "person", "birth", "contact", "bank", "invoice", "amount", "status"}

// Category returns the category of personal data that canonical field
// belongs to: one of Categories, "creditor" for the creditor field (no
// personal data), or "" for a name that is no canonical field.
func Category(field string) string {
	for g, fs := range groups {
		for _, f := range fs {
			if f == field {
				return g
			}
		}
	}
	return ""
}
