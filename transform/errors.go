package transform

import (
	"errors"
	"fmt"
)

// The sentinel errors of package transform. A file-level failure of Process or Check is a
// *FileError that matches ErrRejected with errors.Is, and also ErrBSN when the file carries a
// citizen service number.
var (
	// ErrRejected means the whole file is rejected: nothing of it may be delivered.
	ErrRejected = errors.New("transform: file rejected")
	// ErrBSN means the file carries a BSN (burgerservicenummer), which the agency has no legal
	// basis to process (UAVG art. 46). It is a security event.
	ErrBSN = errors.New("transform: file carries a citizen service number (BSN)")

	// errRecordTooLong is the input's read error once a row runs past MaxRecordBytes; Process
	// turns it into a *FileError record_too_long.
	errRecordTooLong = errors.New("transform: record too long")
)

// Reason codes of the reject report; see the package documentation for what each means.
const (
	ReasonRaggedRow         = "ragged_row"
	ReasonBrokenQuoting     = "broken_quoting"
	ReasonMissingRequired   = "missing_required"
	ReasonFieldTooLong      = "field_too_long"
	ReasonInvalidCharacter  = "invalid_character"
	ReasonInvalidEncoding   = "invalid_encoding"
	ReasonInvalidAmount     = "invalid_amount"
	ReasonNegativeAmount    = "negative_amount"
	ReasonInvalidDate       = "invalid_date"
	ReasonInvalidIBAN       = "invalid_iban"
	ReasonInvalidPostcode   = "invalid_postcode"
	ReasonInvalidPhone      = "invalid_phone"
	ReasonInvalidEmail      = "invalid_email"
	ReasonInvalidKvK        = "invalid_kvk"
	ReasonInvalidBTWID      = "invalid_btw_id"
	ReasonInvalidStatusCode = "invalid_status_code"
	ReasonDuplicateRef      = "duplicate_reference"
	ReasonTotalRow          = "total_row"
	ReasonPossibleBSN       = "possible_bsn"

	ReasonEmptyFile       = "empty_file"
	ReasonInvalidHeader   = "invalid_header"
	ReasonMissingColumn   = "missing_column"
	ReasonDuplicateColumn = "duplicate_column"
	ReasonUnclosedQuote   = "unclosed_quote"
	ReasonRecordTooLong   = "record_too_long"
	ReasonBSNColumn       = "bsn_column"
	ReasonBSNInBTWID      = "bsn_in_btw_id"
	ReasonUnaccounted     = "unaccounted_lines"
	ReasonNoRows          = "no_rows"
	ReasonWrongDelimiter  = "wrong_delimiter"
)

// FileError is why a whole file was rejected. It names a line and a column (a header name or a
// canonical field), never a cell's value. It matches ErrRejected, and ErrBSN for the BSN reasons.
type FileError struct {
	Line   int    // 1-based line in the file; 0 when the file has none
	Column string // header name or canonical field; "" when the problem is not one column's
	Reason string // a file reason code
}

func (e *FileError) Error() string {
	s := "transform: file rejected: " + e.Reason
	if e.Line > 0 {
		s += fmt.Sprintf(": line %d", e.Line)
	}
	if e.Column != "" {
		s += fmt.Sprintf(": column %q", e.Column)
	}
	return s
}

// Is reports whether target is ErrRejected, or ErrBSN for a BSN reason.
func (e *FileError) Is(target error) bool {
	switch target {
	case ErrRejected:
		return true
	case ErrBSN:
		return e.Reason == ReasonBSNColumn || e.Reason == ReasonBSNInBTWID
	}
	return false
}
