package transform_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/exchanged/exchanged/transform"
)

// A creditor's Dutch Excel export goes to a bailiff, who gets no e-mail address or IBAN, and
// the row with a bad IBAN goes back to the creditor in the reject report.
func ExampleProcess() {
	in := strings.NewReader("Vordering;Klant;Naam;E-mail;IBAN;Bedrag\r\n" +
		"V-1;K-1;Jan Jansen;jan@example.nl;NL91ABNA0417164300;1.234,56\r\n" +
		"V-2;K-2;=HYPERLINK(1);;NL91ABNA0417164301;10\r\n" +
		"V-3;K-3;Piet Bakker;;;-5\r\n")
	layout := transform.Layout{
		Name: "acme", Record: "claim", Delimiter: ';', Decimal: ',',
		Columns: map[string]string{"Vordering": "creditor_ref", "Klant": "debtor_ref", "Naam": "name", "Bedrag": "principal"},
	}
	bailiff, _ := transform.BuiltinProfile("bailiff")
	narrow, _ := bailiff.Narrow([]string{"creditor_ref", "debtor_ref", "name", "principal"})

	fmt.Println("-- to the bailiff")
	st, err := transform.Process(context.Background(), in, layout,
		[]transform.Output{{W: os.Stdout, Profile: narrow, Format: transform.Format{Delimiter: ';', Decimal: ','}}},
		prefixed{"-- reject report\n"})
	fmt.Println("rows", st.Rows, "written", st.Written, "rejected", st.Rejected, "error", err)
	// Output:
	// -- to the bailiff
	// creditor_ref;debtor_ref;name;principal
	// V-1;K-1;Jan Jansen;1234,56
	// -- reject report
	// line,reference,column,reason,verwacht,expected
	// 3,V-2,IBAN,invalid_iban,"verwacht een geldig IBAN, zoals NL02ABNA0123456789","expected a valid IBAN, such as NL02ABNA0123456789"
	// 4,V-3,Bedrag,negative_amount,verwacht een bedrag van 0 of meer,expected an amount of 0 or more
	// rows 3 written 1 rejected 2 error <nil>
}

// prefixed writes a title before what it is given (the reject report comes in one write at the
// end of Process).
type prefixed struct{ title string }

func (p prefixed) Write(b []byte) (int, error) {
	os.Stdout.WriteString(p.title)
	return os.Stdout.Write(b)
}

// A file with a BSN column is rejected whole; the error names the column, never a value, and the
// caller discards whatever was written to the outputs.
func ExampleProcess_bsn() {
	in := strings.NewReader("creditor_ref,debtor_ref,name,BSN,principal\nV-1,K-1,Jan,111222333,1.00\n")
	layout, _ := transform.BuiltinLayout("claim")
	internal, _ := transform.BuiltinProfile("internal")
	_, err := transform.Process(context.Background(), in, layout, []transform.Output{{W: io.Discard, Profile: internal}}, nil)
	fmt.Println(err)
	fmt.Println(errors.Is(err, transform.ErrRejected), errors.Is(err, transform.ErrBSN))
	// Output:
	// transform: file rejected: bsn_column: line 1: column "BSN"
	// true true
}
