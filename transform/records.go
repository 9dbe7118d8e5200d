package transform

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/gocarina/gocsv"
)

// Claim is one claim a creditor hands over: the debtor, the invoice and its amounts. Its gocsv
// tags are the canonical column names; `transform:"required"` marks fields every claim must have.
type Claim struct {
	CaseRef       Ref      `csv:"case_ref"`
	CreditorRef   Ref      `csv:"creditor_ref" transform:"required"`
	DebtorRef     Ref      `csv:"debtor_ref" transform:"required"`
	Name          Text     `csv:"name" transform:"required"`
	Street        Text     `csv:"street"`
	HouseNumber   Text     `csv:"house_number"`
	Postcode      Postcode `csv:"postcode"`
	City          Text     `csv:"city"`
	BirthDate     Date     `csv:"birth_date"`
	Email         Email    `csv:"email"`
	Phone         Phone    `csv:"phone"`
	IBAN          IBAN     `csv:"iban"`
	KvK           KvK      `csv:"kvk"`
	BTWID         BTWID    `csv:"btw_id"`
	InvoiceNumber Ref      `csv:"invoice_number"`
	InvoiceDate   Date     `csv:"invoice_date"`
	Principal     Amount   `csv:"principal" transform:"required"`
	Interest      Amount   `csv:"interest"`
	Costs         Amount   `csv:"costs"`
	Creditor      Ref      `csv:"creditor"`
}

// Payment is one payment received on a claim.
type Payment struct {
	CaseRef     Ref    `csv:"case_ref"`
	CreditorRef Ref    `csv:"creditor_ref" transform:"required"`
	DebtorRef   Ref    `csv:"debtor_ref"`
	PaidAmount  Amount `csv:"paid_amount" transform:"required"`
	PaymentDate Date   `csv:"payment_date" transform:"required"`
	IBAN        IBAN   `csv:"iban"`
	Creditor    Ref    `csv:"creditor"`
}

// Status is the state of a claim as the agency reports it.
type Status struct {
	CaseRef     Ref    `csv:"case_ref"`
	CreditorRef Ref    `csv:"creditor_ref" transform:"required"`
	DebtorRef   Ref    `csv:"debtor_ref"`
	StatusCode  Code   `csv:"status_code" transform:"required"`
	StatusDate  Date   `csv:"status_date"`
	Principal   Amount `csv:"principal"`
	Interest    Amount `csv:"interest"`
	Costs       Amount `csv:"costs"`
	PaidAmount  Amount `csv:"paid_amount"`
	PaymentDate Date   `csv:"payment_date"`
	Creditor    Ref    `csv:"creditor"`
}

type kind uint8

const (
	kindText kind = iota
	kindRef
	kindCode
	kindAmount
	kindDate
	kindIBAN
	kindPostcode
	kindPhone
	kindEmail
	kindKvK
	kindBTWID
)

var kindOf = map[reflect.Type]kind{
	reflect.TypeFor[Text]():     kindText,
	reflect.TypeFor[Ref]():      kindRef,
	reflect.TypeFor[Code]():     kindCode,
	reflect.TypeFor[Amount]():   kindAmount,
	reflect.TypeFor[Date]():     kindDate,
	reflect.TypeFor[IBAN]():     kindIBAN,
	reflect.TypeFor[Postcode](): kindPostcode,
	reflect.TypeFor[Phone]():    kindPhone,
	reflect.TypeFor[Email]():    kindEmail,
	reflect.TypeFor[KvK]():      kindKvK,
	reflect.TypeFor[BTWID]():    kindBTWID,
}

type fieldDef struct {
	name     string
	index    int // in the struct
	kind     kind
	required bool
}

type recordDef struct {
	name   string
	typ    reflect.Type
	fields []fieldDef
	byName map[string]int
}

// Records lists the canonical record names.
var Records = []string{"claim", "payment", "status"}

var records = map[string]*recordDef{
	"claim":   defineRecord[Claim]("claim"),
	"payment": defineRecord[Payment]("payment"),
	"status":  defineRecord[Status]("status"),
}

// headerCatcher is a gocsv.CSVWriter that keeps the first row gocsv writes: the header.
type headerCatcher struct{ header []string }

func (h *headerCatcher) Write(row []string) error {
	if h.header == nil {
		h.header = append([]string(nil), row...)
	}
	return nil
}
func (h *headerCatcher) Flush()       {}
func (h *headerCatcher) Error() error { return nil }

// defineRecord takes a record's column names and order from gocsv, which reads the struct tags,
// and pairs each with its struct field and field type.
func defineRecord[T any](name string) *recordDef {
	var hc headerCatcher
	if err := gocsv.MarshalCSV(&[]T{}, &hc); err != nil {
		panic(fmt.Sprintf("transform: record %s: %v", name, err))
	}
	rd := &recordDef{name: name, typ: reflect.TypeFor[T](), byName: map[string]int{}}
	for i := 0; i < rd.typ.NumField(); i++ {
		sf := rd.typ.Field(i)
		col := len(rd.fields)
		tag, _, _ := strings.Cut(sf.Tag.Get("csv"), ",")
		k, ok := kindOf[sf.Type]
		if !ok || col >= len(hc.header) || hc.header[col] != tag {
			panic(fmt.Sprintf("transform: record %s: field %s does not match gocsv's columns %v", name, sf.Name, hc.header))
		}
		rd.byName[tag] = col
		rd.fields = append(rd.fields, fieldDef{name: tag, index: i, kind: k, required: sf.Tag.Get("transform") == "required"})
	}
	if len(rd.fields) != len(hc.header) {
		panic(fmt.Sprintf("transform: record %s: fields do not match gocsv's columns %v", name, hc.header))
	}
	return rd
}

// Fields returns the canonical field names of a record, in column order, or nil for an unknown
// record.
func Fields(record string) []string {
	rd, ok := records[record]
	if !ok {
		return nil
	}
	names := make([]string, len(rd.fields))
	for i, f := range rd.fields {
		names[i] = f.name
	}
	return names
}

// slots returns pointers to the fields of a new record value, in column order: Process parses
// each row into them without reflection.
func (rd *recordDef) slots() []any {
	v := reflect.New(rd.typ).Elem()
	s := make([]any, len(rd.fields))
	for i, f := range rd.fields {
		s[i] = v.Field(f.index).Addr().Interface()
	}
	return s
}
