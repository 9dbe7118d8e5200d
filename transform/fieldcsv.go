package transform

import "strings"

// The gocsv (un)marshalers of the field types use the canonical notation. Process does not call
// them: it reads each layout's own notation through the same parsers.

func (t *Text) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	*t = Text(s)
	return fieldErr(checkText(s, maxText))
}

func (t Text) MarshalCSV() (string, error) { return string(t), nil }

func (r *Ref) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	*r = Ref(s)
	return fieldErr(checkText(s, maxRef))
}

func (r Ref) MarshalCSV() (string, error) { return string(r), nil }

func (c *Code) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	*c = Code(s)
	return fieldErr(checkCode(s))
}

func (c Code) MarshalCSV() (string, error) { return string(c), nil }

func (a *Amount) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*a = 0
		return nil
	}
	v, reason := parseAmount(s, '.')
	*a = v
	return fieldErr(reason)
}

func (a Amount) MarshalCSV() (string, error) { return a.String(), nil }

func (d *Date) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*d = Date{}
		return nil
	}
	v, reason := isoDate.parse(s)
	*d = v
	return fieldErr(reason)
}

func (d Date) MarshalCSV() (string, error) { return d.String(), nil }

func (i *IBAN) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*i = ""
		return nil
	}
	v, reason := parseIBAN(s)
	*i = v
	return fieldErr(reason)
}

func (i IBAN) MarshalCSV() (string, error) { return string(i), nil }

func (p *Postcode) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*p = ""
		return nil
	}
	v, reason := parsePostcode(s)
	*p = v
	return fieldErr(reason)
}

func (p Postcode) MarshalCSV() (string, error) { return string(p), nil }

func (p *Phone) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*p = ""
		return nil
	}
	v, reason := parsePhone(s)
	*p = v
	return fieldErr(reason)
}

func (p Phone) MarshalCSV() (string, error) { return string(p), nil }

func (e *Email) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	*e = ""
	if s == "" {
		return nil
	}
	if reason := checkEmail(s); reason != "" {
		return fieldErr(reason)
	}
	*e = Email(s)
	return nil
}

func (e Email) MarshalCSV() (string, error) { return string(e), nil }

func (k *KvK) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	*k = ""
	if s == "" {
		return nil
	}
	if reason := checkKvK(s); reason != "" {
		return fieldErr(reason)
	}
	*k = KvK(s)
	return nil
}

func (k KvK) MarshalCSV() (string, error) { return string(k), nil }

// UnmarshalCSV accepts current and legacy btw-ids alike: whether a legacy number was built from a
// BSN depends on the row (see Process).
func (b *BTWID) UnmarshalCSV(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*b = ""
		return nil
	}
	v, _, reason := parseBTWID(s)
	*b = v
	return fieldErr(reason)
}

func (b BTWID) MarshalCSV() (string, error) { return string(b), nil }
