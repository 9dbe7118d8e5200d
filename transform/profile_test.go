package transform

import (
	"bytes"
	"context"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"
)

// agreedProfiles is the agreed profile table, written out here field by field and independent of
// the package's own table, so that a change there fails this test.
//
//	field group                                       internal bailiff lawyer c-status c-payment
//	case and creditor references                      yes      yes     yes    yes      yes
//	name, address, postcode, city (+ kvk, btw_id)     yes      yes     yes    no       no
//	birth date                                        yes      yes     yes    no       no
//	email, phone                                      yes      no      no     no       no
//	debtor IBAN                                       yes      no      no     no       no
//	invoice number/date, principal, interest, costs   yes      yes     yes    amounts  no
//	status code, paid amount, payment date            yes      yes     yes    yes      yes
var agreedProfiles = map[string][]string{
	"internal": {"case_ref", "creditor_ref", "debtor_ref", "name", "street", "house_number", "postcode", "city", "kvk", "btw_id",
		"birth_date", "email", "phone", "iban", "invoice_number", "invoice_date", "principal", "interest", "costs",
		"status_code", "status_date", "paid_amount", "payment_date"},
	"bailiff": {"case_ref", "creditor_ref", "debtor_ref", "name", "street", "house_number", "postcode", "city", "kvk", "btw_id",
		"birth_date", "invoice_number", "invoice_date", "principal", "interest", "costs",
		"status_code", "status_date", "paid_amount", "payment_date"},
	"lawyer": {"case_ref", "creditor_ref", "debtor_ref", "name", "street", "house_number", "postcode", "city", "kvk", "btw_id",
		"birth_date", "invoice_number", "invoice_date", "principal", "interest", "costs",
		"status_code", "status_date", "paid_amount", "payment_date"},
	"creditor-status":  {"case_ref", "creditor_ref", "debtor_ref", "principal", "interest", "costs", "status_code", "status_date", "paid_amount", "payment_date"},
	"creditor-payment": {"case_ref", "creditor_ref", "debtor_ref", "status_code", "status_date", "paid_amount", "payment_date"},
}

func TestBuiltinProfilesFollowTheAgreedTable(t *testing.T) {
	for _, name := range Profiles {
		p := profile(t, name)
		got, want := slices.Sorted(slices.Values(p.Fields)), slices.Sorted(slices.Values(agreedProfiles[name]))
		if !slices.Equal(got, want) {
			t.Errorf("profile %s allows %v, want %v", name, got, want)
		}
	}
	if _, err := BuiltinProfile("debtor"); err == nil {
		t.Error("BuiltinProfile(debtor) did not fail")
	}
}

// sentinel is the value a test row carries in field f: unique, valid for the field's type, and
// findable in any output.
var sentinel = map[string]string{
	"creditor": "PARTNER-S0", "case_ref": "CASE-S1", "creditor_ref": "CRED-S2", "debtor_ref": "DEBT-S3", "name": "NAME-S4", "street": "STREET-S5",
	"house_number": "HNR-S6", "postcode": "9876 ZX", "city": "CITY-S8", "birth_date": "1961-07-19",
	"email": "mail-s10@example.nl", "phone": "+31687654321", "iban": "DE89370400440532013000", "kvk": "87654321",
	"btw_id": "NL000099998B57", "invoice_number": "INVNR-S15", "invoice_date": "2011-03-04", "principal": "111.11",
	"interest": "222.22", "costs": "333.33", "status_code": "STATUS-S20", "status_date": "2012-05-06",
	"paid_amount": "444.44", "payment_date": "2013-08-09",
}

// extra columns no field takes, in every test file: they must never leave either.
var extra = map[string]string{"Opmerking": "REMARK-X1", "Geslacht": "GENDER-X2", "telefoon_werk": "WORKPHONE-X3"}

// TestNoDisallowedFieldLeaves writes a row carrying every field of each record, plus columns no
// field takes, through every profile (each role's, and narrowed ones) and checks the output
// holds every allowed value and no other: no header, no value.
func TestNoDisallowedFieldLeaves(t *testing.T) {
	for _, record := range Records {
		var header, row []string
		for _, f := range Fields(record) {
			header, row = append(header, f), append(row, sentinel[f])
		}
		for h, v := range extra {
			header, row = append(header, h), append(row, v)
		}
		var in bytes.Buffer
		w := csv.NewWriter(&in)
		w.Write(header)
		w.Write(row)
		w.Flush()

		profiles := map[string]Profile{}
		for _, name := range Profiles {
			profiles[name] = profile(t, name)
		}
		narrow, err := profile(t, "bailiff").Narrow([]string{"case_ref", "creditor_ref", "name", "principal", "status_code"})
		if err != nil {
			t.Fatal(err)
		}
		profiles["bailiff narrowed"] = narrow
		for role, p := range profiles {
			allowed := agreedProfiles[p.Name]
			if role == "bailiff narrowed" {
				allowed = narrow.Fields
			}
			var out bytes.Buffer
			_, err := Process(context.Background(), bytes.NewReader(in.Bytes()), builtin(t, record),
				[]Output{{W: &out, Profile: p}}, nil)
			if err != nil && strings.Contains(err.Error(), "allows no field") {
				continue // e.g. a narrowed profile on a record it has nothing of
			}
			if err != nil {
				t.Fatalf("%s/%s: %v", record, role, err)
			}
			got := out.String()
			for _, f := range Fields(record) {
				inHeader := slices.Contains(strings.Split(strings.SplitN(got, "\n", 2)[0], ","), f)
				inValues := strings.Contains(got, sentinel[f])
				want := slices.Contains(allowed, f)
				if inHeader != want || inValues != want {
					t.Errorf("%s through %s: field %s in header %v, value %v; allowed %v", record, role, f, inHeader, inValues, want)
				}
			}
			for h, v := range extra {
				if strings.Contains(got, h) || strings.Contains(got, v) {
					t.Errorf("%s through %s: column %s left", record, role, h)
				}
			}
		}
	}
}

func TestNarrow(t *testing.T) {
	p := profile(t, "creditor-status")
	n, err := p.Narrow([]string{"creditor_ref", "principal", "creditor_ref"})
	if err != nil || n.Name != "creditor-status" || strings.Join(n.Fields, ",") != "creditor_ref,principal" {
		t.Errorf("Narrow = %+v, %v", n, err)
	}
	if _, err := p.Narrow([]string{"creditor_ref", "name"}); err == nil || !strings.Contains(err.Error(), `"name"`) {
		t.Errorf("widening to name: err = %v", err)
	}
	if _, err := n.Narrow([]string{"interest"}); err == nil {
		t.Error("a narrowed profile widened again")
	}
}

// TestOutputDateFormatReadsBack: a recipient's date format must read back the date written
// (checkDateFormat's promise). With a two-digit year ("02-01-06") a birth date of 1950 is
// written "01-03-50", which that format reads as 2050: Process must refuse the format, or write
// what reads back as 1950.
func TestOutputDateFormatReadsBack(t *testing.T) {
	const layout = "02-01-06"
	in := "creditor_ref,debtor_ref,name,birth_date,principal\nR-1,K-1,Jan Jansen,1950-03-01,1.00\n"
	var out strings.Builder
	_, err := Process(context.Background(), strings.NewReader(in), builtin(t, "claim"),
		[]Output{{W: &out, Profile: profile(t, "bailiff"), Format: Format{DateFormat: layout}}}, nil)
	if err != nil {
		if !strings.Contains(err.Error(), `date format "02-01-06"`) {
			t.Fatalf("err = %v, want the date format refused", err)
		}
		return // refused: nothing is written that reads back wrong
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 2 {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, cell := range strings.Split(lines[1], ",") {
		if d, err := time.Parse(layout, cell); err == nil && d.Year() != 1950 {
			t.Errorf("birth date 1950-03-01 written %q, which %q reads as %s", cell, layout, d.Format("2006-01-02"))
		}
	}
}
