package transform

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/gocarina/gocsv"
)

func TestParseAmount(t *testing.T) {
	cases := []struct {
		in     string
		dec    byte
		want   Amount
		reason string
	}{
		{"0", '.', 0, ""},
		{"12", '.', 1200, ""},
		{"12.5", '.', 1250, ""},
		{"12.50", '.', 1250, ""},
		{"-12.50", '.', -1250, ""},
		{"+3.01", '.', 301, ""},
		{"1,234.56", '.', 123456, ""},
		{"1,234,567.89", '.', 123456789, ""},
		{"1.234,56", ',', 123456, ""},
		{"1234,56", ',', 123456, ""},
		{"-0,01", ',', -1, ""},
		{"12.505", '.', 0, ReasonInvalidAmount},  // three decimals
		{"12.", '.', 0, ReasonInvalidAmount},     // no decimals after the point
		{".50", '.', 0, ReasonInvalidAmount},     // no euros
		{"1234.56", ',', 0, ReasonInvalidAmount}, // point is a thousands separator here: bad group
		{"1,23.00", '.', 0, ReasonInvalidAmount},
		{"1234,567.00", '.', 0, ReasonInvalidAmount},
		{",123", ',', 0, ReasonInvalidAmount},
		{"€ 12", '.', 0, ReasonInvalidAmount},
		{"12 EUR", '.', 0, ReasonInvalidAmount},
		{"1e3", '.', 0, ReasonInvalidAmount},
		{"--1", '.', 0, ReasonInvalidAmount},
		{"-", '.', 0, ReasonInvalidAmount},
		{"99999999999999999999", '.', 0, ReasonInvalidAmount},
	}
	for _, tc := range cases {
		got, reason := parseAmount(tc.in, tc.dec)
		if got != tc.want || reason != tc.reason {
			t.Errorf("parseAmount(%q, %q) = %d %q, want %d %q", tc.in, tc.dec, got, reason, tc.want, tc.reason)
		}
	}
	for _, tc := range []struct {
		a    Amount
		dec  byte
		want string
	}{{0, '.', "0.00"}, {5, '.', "0.05"}, {-5, ',', "-0,05"}, {123456, ',', "1234,56"}, {-100, '.', "-1.00"}} {
		if got := string(appendAmount(nil, tc.a, tc.dec)); got != tc.want {
			t.Errorf("appendAmount(%d) = %q, want %q", tc.a, got, tc.want)
		}
	}
}

func TestDates(t *testing.T) {
	cases := []struct {
		layout, in string
		want       Date
		reason     string
	}{
		{"2006-01-02", "2025-12-31", Date{2025, 12, 31}, ""},
		{"2006-01-02", "2024-02-29", Date{2024, 2, 29}, ""},
		{"2006-01-02", "2025-02-29", Date{}, ReasonInvalidDate},
		{"2006-01-02", "2025-13-01", Date{}, ReasonInvalidDate},
		{"2006-01-02", "2025-1-01", Date{}, ReasonInvalidDate},
		{"2006-01-02", "2025/01/01", Date{}, ReasonInvalidDate},
		{"2006-01-02", "1899-12-31", Date{}, ReasonInvalidDate},
		{"02-01-2006", "31-12-2025", Date{2025, 12, 31}, ""},
		{"02-01-2006", "00-12-2025", Date{}, ReasonInvalidDate},
		{"02/01/2006", "01/02/2025", Date{2025, 2, 1}, ""},
		{"20060102", "20250201", Date{2025, 2, 1}, ""},
		{"2 January 2006", "1 February 2025", Date{2025, 2, 1}, ""}, // through package time
		{"2 January 2006", "31 February 2025", Date{}, ReasonInvalidDate},
	}
	for _, tc := range cases {
		dl := compileDate(tc.layout)
		got, reason := dl.parse(tc.in)
		if got != tc.want || reason != tc.reason {
			t.Errorf("parse(%q, %q) = %v %q, want %v %q", tc.layout, tc.in, got, reason, tc.want, tc.reason)
		}
		if reason == "" {
			if back := string(dl.appendDate(nil, got)); back != tc.in {
				t.Errorf("appendDate(%q, %v) = %q, want %q", tc.layout, got, back, tc.in)
			}
		}
	}
	if !compileDate("02-01-2006").fast || compileDate("2 January 2006").fast {
		t.Error("fast path chosen wrongly")
	}
}

func TestParseIBAN(t *testing.T) {
	cases := []struct {
		in   string
		want IBAN
		ok   bool
	}{
		{"NL91ABNA0417164300", "NL91ABNA0417164300", true},
		{"nl91 abna 0417 1643 00", "NL91ABNA0417164300", true},
		{"DE89370400440532013000", "DE89370400440532013000", true},
		{"BE68539007547034", "BE68539007547034", true},
		{"GB82WEST12345698765432", "GB82WEST12345698765432", true},
		{"NL91ABNA0417164301", "", false},    // mod-97
		{"NL91ABNA041716430", "", false},     // NL is 18
		{"NL91ABNA04171643000", "", false},   // NL is 18
		{"NL91AB1A0417164300", "", false},    // bank code is four letters
		{"NL91ABNA04171643AB", "", false},    // account is ten digits
		{"DE8937040044053201300", "", false}, // DE is 22
		{"NL91-ABNA-0417-1643-00", "", false},
		{"XX", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		got, reason := parseIBAN(tc.in)
		if got != tc.want || (reason == "") != tc.ok || (!tc.ok && reason != ReasonInvalidIBAN) {
			t.Errorf("parseIBAN(%q) = %q %q, want %q ok=%v", tc.in, got, reason, tc.want, tc.ok)
		}
	}
}

func TestParsePostcode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1234 AB", "1234 AB"}, {"1234AB", "1234 AB"}, {"1234ab", "1234 AB"}, {"9999 zz", "9999 ZZ"},
		{"0123 AB", ""}, {"1234 SA", ""}, {"1234 sd", ""}, {"1234SS", ""}, {"123 AB", ""}, {"12345AB", ""},
		{"1234  AB", ""}, {"1234 A1", ""}, {"1234-AB", ""}, {"1234 ÄB", ""}, {"", ""},
	} {
		got, reason := parsePostcode(tc.in)
		if string(got) != tc.want || (reason == "") != (tc.want != "") {
			t.Errorf("parsePostcode(%q) = %q %q, want %q", tc.in, got, reason, tc.want)
		}
	}
}

func TestParsePhone(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0612345678", "+31612345678"},
		{"06-12345678", "+31612345678"},
		{"06 1234 5678", "+31612345678"},
		{"020-1234567", "+31201234567"},
		{"(020) 123 45 67", "+31201234567"},
		{"+31 6 12345678", "+31612345678"},
		{"+31 (0)6 12345678", "+31612345678"},
		{"0031612345678", "+31612345678"},
		{"+32 2 123 45 67", "+3221234567"},
		{"0049 30 1234567", "+49301234567"},
		{"061234567", ""},        // nine digits
		{"06123456789", ""},      // eleven digits
		{"+31 0612345678 9", ""}, // too long
		{"+3161234567", ""},      // +31 needs nine digits
		{"612345678", ""},        // no prefix
		{"+1234567", ""},         // under eight digits
		{"06-1234567x", ""},
		{"06+12345678", ""},
		{"", ""},
	} {
		got, reason := parsePhone(tc.in)
		if string(got) != tc.want || (reason == "") != (tc.want != "") {
			t.Errorf("parsePhone(%q) = %q %q, want %q", tc.in, got, reason, tc.want)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"jan@example.nl", true},
		{"jan.jansen+x@sub.example.com", true},
		{"J_J-1@EXAMPLE.NL", true},
		{"a@b", false},
		{"a@b.c", false},
		{"a@b.12", false},
		{"@example.nl", false},
		{"jan@", false},
		{"jan@@example.nl", false},
		{"jan@exa mple.nl", false},
		{"jan jansen@example.nl", false},
		{".jan@example.nl", false},
		{"jan..j@example.nl", false},
		{"jan@-example.nl", false},
		{"jan@example-.nl", false},
		{"jan@example..nl", false},
		{"jan@example.nl.", false},
		{"jan\x00@example.nl", false},
		{"jän@example.nl", false},
		{"\"jan\"@example.nl", false},
		{strings.Repeat("j", 65) + "@example.nl", false},
	} {
		if got := checkEmail(tc.in) == ""; got != tc.ok {
			t.Errorf("checkEmail(%q) ok = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

func TestKvKAndBTW(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"12345678", true}, {"01234567", true}, {"1234567", false}, {"123456789", false}, {"1234 5678", false}, {"1234567a", false}} {
		if got := checkKvK(tc.in) == ""; got != tc.ok {
			t.Errorf("checkKvK(%q) ok = %v", tc.in, got)
		}
	}
	for _, tc := range []struct {
		in     string
		want   BTWID
		legacy bool
		reason string
	}{
		{"NL000099998B57", "NL000099998B57", false, ""},
		{"nl 0000.99998.b57", "NL000099998B57", false, ""},
		{"NL820646660B01", "NL820646660B01", true, ""}, // 11-proof
		{"NL111222333B01", "NL111222333B01", true, ""},
		{"NL000099998B58", "", false, ReasonInvalidBTWID},
		{"NL001234567B01", "", false, ReasonInvalidBTWID},
		{"NL820646660B00", "", false, ReasonInvalidBTWID},
		{"BE0123456789", "", false, ReasonInvalidBTWID},
		{"NL82064666B01", "", false, ReasonInvalidBTWID},
		{"NL820646660X01", "", false, ReasonInvalidBTWID},
		{"NL000000000B01", "", false, ReasonInvalidBTWID}, // 11-proof sum 0 is no number
	} {
		got, legacy, reason := parseBTWID(tc.in)
		if got != tc.want || legacy != tc.legacy || reason != tc.reason {
			t.Errorf("parseBTWID(%q) = %q %v %q, want %q %v %q", tc.in, got, legacy, reason, tc.want, tc.legacy, tc.reason)
		}
	}
}

func TestCheckTextAndCode(t *testing.T) {
	for _, tc := range []struct {
		in     string
		reason string
	}{
		{"Jan Jansen", ""}, {"Zoë Çelik-O'Neil", ""}, {"a\x00b", ReasonInvalidCharacter}, {"a\tb", ReasonInvalidCharacter},
		{"a\nb", ReasonInvalidCharacter}, {"a\x7fb", ReasonInvalidCharacter}, {"a\xffb", ReasonInvalidEncoding},
		{strings.Repeat("é", 100), ""}, {strings.Repeat("é", 100) + "x", ReasonFieldTooLong},
	} {
		if got := checkText(tc.in, maxText); got != tc.reason {
			t.Errorf("checkText(%q) = %q, want %q", tc.in, got, tc.reason)
		}
	}
	for _, tc := range []struct {
		in     string
		reason string
	}{{"paid", ""}, {"IN_COLLECTION-2.b", ""}, {"-paid", ReasonInvalidStatusCode}, {"pa id", ReasonInvalidStatusCode},
		{"=1", ReasonInvalidStatusCode}, {strings.Repeat("c", 33), ReasonFieldTooLong}} {
		if got := checkCode(tc.in); got != tc.reason {
			t.Errorf("checkCode(%q) = %q, want %q", tc.in, got, tc.reason)
		}
	}
}

func TestNeutralize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Jan", "Jan"}, {"", ""}, {"   ", "   "}, {"=1+1", "'=1+1"}, {"+31", "'+31"}, {"-2", "'-2"},
		{"@SUM(A1)", "'@SUM(A1)"}, {"\t=1", "'\t=1"}, {"\r=1", "'\r=1"}, {"  =1", "'  =1"},
		{"＝1", "'＝1"}, {"＋1", "'＋1"}, {"－1", "'－1"}, {"＠x", "'＠x"}, {"a=1", "a=1"}, {"'=1", "'=1"},
		{"ＡＢ", "ＡＢ"},
	} {
		if got := neutralize(tc.in); got != tc.want {
			t.Errorf("neutralize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCanonicalRoundTrip: the records' columns are the ones gocsv reads from their tags, and an
// internal-profile canonical file reads, through the built-in layout, into the values the field
// types validate and writes out unchanged. A bad value rejects its row with a reason and no value.
func TestCanonicalRoundTrip(t *testing.T) {
	in := "case_ref,creditor_ref,debtor_ref,name,street,house_number,postcode,city,birth_date,email,phone,iban,kvk,btw_id,invoice_number,invoice_date,principal,interest,costs\n" +
		"C-1,INV-1001,K-1,Jan Jansen,Dorpsstraat,12a,1234 AB,Utrecht,1980-05-17,jan@example.nl,+31612345678,NL91ABNA0417164300,12345678,NL000099998B57,F-1,2025-01-15,1234.56,-12.30,40.00\n"
	header, err := gocsv.MarshalString(&[]Claim{})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(Fields("claim"), ",") + "\n"; header != want {
		t.Errorf("gocsv's columns %q, Fields(claim) %q", header, want)
	}
	var out bytes.Buffer
	st, err := Process(context.Background(), strings.NewReader(in), builtin(t, "claim"),
		[]Output{{W: &out, Profile: profile(t, "internal")}}, io.Discard)
	if err != nil || st.Rows != 1 || st.Rejected != 0 {
		t.Fatalf("Process = %+v, %v", st, err)
	}
	if out.String() != in {
		t.Errorf("wrote\n%s\nwant\n%s", out.String(), in)
	}
	// A bad value fails with a reason and no value.
	var rejects bytes.Buffer
	st, err = Process(context.Background(), strings.NewReader("creditor_ref,debtor_ref,name,principal,iban\nR-1,K-1,Jan,1.00,NL91ABNA0417164301\n"),
		builtin(t, "claim"), []Output{{W: io.Discard, Profile: profile(t, "internal")}}, &rejects)
	if err != nil || st.Rejected != 1 || !strings.Contains(rejects.String(), ReasonInvalidIBAN) || strings.Contains(rejects.String(), "0417164301") {
		t.Errorf("Process = %+v, %v; rejects %q: want one invalid_iban row without the value", st, err, rejects.String())
	}
}

func TestFields(t *testing.T) {
	if got := strings.Join(Fields("payment"), ","); got != "case_ref,creditor_ref,debtor_ref,paid_amount,payment_date,iban,creditor" {
		t.Errorf("Fields(payment) = %s", got)
	}
	if Fields("invoice") != nil {
		t.Error("Fields(invoice) != nil")
	}
}
