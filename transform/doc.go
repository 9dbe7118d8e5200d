// Package transform owns what happens to a CSV file between staging and delivery: a creditor's
// layout (delimiter, charset, decimal and date formats, column names) is read onto a canonical
// record (claim, payment or status), every row is validated, and each recipient gets only the
// fields its profile allows, neutralized against formula injection. Bad rows go to a reject report
// for the creditor; a file that cannot be parsed, or that carries a BSN, is rejected whole.
//
// It streams: one csv.Reader per file, a batch of rows in memory at a time. It knows nothing of SFTP, the
// ledger or the config file; package exchange calls [Process], and the `exchanged check` command
// calls [Check].
//
// # Lines
//
// A line ends at CR (Excel's "CSV (Macintosh)"), LF or CRLF, mixed in one file or not; a line
// break inside a quoted cell is read as one LF, whichever it was. Every physical line of a file is
// accounted for in [Stats]: the header, a data row (written or rejected), a line that continues
// the header or a row past a quoted line break, or a blank line that is skipped (empty, or every
// cell empty or spaces, as Excel writes ";;;" for rows once formatted; above the header too). A
// blank line holds nothing but white space and the file's delimiter (";;;" is no blank line in a ','
// layout's file); above the header of a layout without a delimiter, whose delimiter is detected
// from the first line that is not blank, any of ';', ',', tab and '|'. The lines are counted
// apart from the CSV reader; a file whose count does not add up (unaccounted_lines), or that has
// text after its header but yields no row (no_rows), is rejected whole, never delivered as a
// header-only file.
//
// # BSN
//
// A file that carries a BSN is rejected whole, found three ways: a header that names one; a
// column whose values are BSNs; a legacy btw number on a person's row (see below). A BSN in a
// single value rejects its row:
//
//   - possible_bsn (a row): a name, street, house_number or city holding a group of nine digits
//     that passes the 11-proef (9·d1 + 8·d2 + ... + 2·d8 − d9 ≡ 0 mod 11), written together or
//     split by single dots, spaces or hyphens; or any other cell, a column no field takes
//     included, where such a number stands with the word bsn, sofi or burgerservice. A reference
//     is not checked alone: a random nine-digit number passes the 11-proef one time in eleven.
//     [Stats].PossibleBSN counts these rows, for the caller to log as a security event.
//   - bsn_column (the file): a column, mapped or not, where (1) more than half of the non-empty
//     cells are eight or nine digits (Excel drops a leading zero), written together or split by
//     single dots, spaces or hyphens, passing the 11-proef, and (2) among its distinct such
//     values (as numbers, whatever their separators; the first 256), so many pass that random numbers would do
//     so less than once in a million (binomial tail, p = 1/11): at least 6 of 6, 7 of 7 or 8, 8
//     of 9 to 11, 9 of 12 to 14, 10 of 15 to 18. (2) keeps a column of random invoice numbers,
//     or one number repeated on every row, from being taken for BSNs; it also means that fewer
//     than six different BSNs in a column are not found by their values. The column test is
//     decided once every row is read: Process then returns the rejection, and the caller
//     discards the outputs, as for any rejected file.
//
// # Canonical fields
//
// Every record's columns are declared with gocsv tags on [Claim], [Payment] and [Status]. The
// canonical fields, their type and the profile group that decides who may receive them:
//
//	field           type      group      records                 meaning
//	case_ref        Ref       reference  claim payment status    the agency's case (dossier) number
//	creditor_ref    Ref       reference  claim payment status    the creditor's own claim reference (required)
//	debtor_ref      Ref       reference  claim payment status    the creditor's customer number for the debtor
//	name            Text      person     claim                   debtor name (required in a claim)
//	street          Text      person     claim                   street
//	house_number    Text      person     claim                   house number and addition
//	postcode        Postcode  person     claim                   Dutch postcode, written "1234 AB"
//	city            Text      person     claim                   city
//	kvk             KvK       person     claim                   Chamber of Commerce number, 8 digits
//	btw_id          BTWID     person     claim                   VAT id NL999999999B99
//	birth_date      Date      birth      claim                   date of birth (not in the future)
//	email           Email     contact    claim                   e-mail address
//	phone           Phone     contact    claim                   phone number, written +31...
//	iban            IBAN      bank       claim payment           the debtor's bank account
//	invoice_number  Ref       invoice    claim                   invoice number
//	invoice_date    Date      invoice    claim                   invoice date
//	principal       Amount    amount     claim status            principal (hoofdsom), never negative
//	interest        Amount    amount     claim status            interest
//	costs           Amount    amount     claim status            collection costs
//	status_code     Code      status     status                  the agency's status code
//	status_date     Date      status     status                  date of that status
//	paid_amount     Amount    status     payment status          amount paid (a reversal is negative)
//	payment_date    Date      status     payment status          date of payment
//	creditor        Ref       creditor   claim payment status    the creditor partner the row belongs to
//
// creditor names, as the config's partner name (e.g. acme-energie), the creditor whose claim a
// row is, in files from the agency's own case system, which hold the rows of many creditors. It
// is read only to key the row's data subject (see [Output].Subject): the ledger's pseudonym of a
// debtor is keyed on the creditor and their debtor_ref, the same at import, at handover and back.
// No built-in profile sends it on. case_ref, when a row has one, is likewise passed to
// [Output].Subject: the ledger records a keyed pseudonym of it with the row's subject, so that a
// subject can be found by case (exchanged subject --case); the reference itself is never stored.
//
// A source column that maps to none of these is dropped on reading; a canonical field that a
// recipient's [Profile] does not allow is dropped on writing.
//
// # Reason codes
//
// The reject report is CSV with the columns line, reference, column, reason, verwacht and
// expected: the line in the file (the first, for a row across lines), the row's creditor_ref,
// the column by the creditor's own header, the reason code, and what was expected instead in
// Dutch (verwacht) and English (expected), in the layout's terms: "verwacht een datum als
// dd-mm-jjjj (bijvoorbeeld 31-12-2025), jaar 1900 tot 2199" for a layout with date 02-01-2006,
// "verwacht een bedrag als 1250,50 of 1.250,50: decimaalteken ',', ten hoogste twee decimalen",
// "verwacht een kolom met de kop "Factuurnummer"" for a missing column. The explanations are made
// from the layout and the reason only, never from a cell. A row gets one report line per
// problem; a file rejected whole gets one line (one per missing column).
//
// Row reasons (the row is rejected, the rest of the file goes on):
//
//	ragged_row           the row has more or fewer cells than the header
//	broken_quoting       a quote in the wrong place on one line
//	missing_required     a required field is empty
//	field_too_long       a cell longer than its field allows (Ref 64, Text 200, Code 32, Email 254 bytes)
//	invalid_character    a control character (NUL, tab, newline, ...) in a cell
//	invalid_encoding     a cell that is not valid UTF-8
//	invalid_amount       not an amount with at most two decimals in the layout's notation
//	negative_amount      a negative principal
//	invalid_date         not a date in the layout's format, outside 1900..2199, or a birth date in the future
//	invalid_iban         wrong shape or length for its country, or mod-97 check failed
//	invalid_postcode     not a Dutch postcode "1234 AB"
//	invalid_phone        not a Dutch (0..., +31...) or international (+..., 00...) number
//	invalid_email        not an e-mail address
//	invalid_kvk          not 8 digits
//	invalid_btw_id       not NL + 9 digits + B + 2 digits passing mod-97 or the legacy 11-proof
//	invalid_status_code  not a status code (letters, digits, . _ -; at most 32)
//	duplicate_reference  a creditor_ref already seen earlier in the same claim file
//	total_row            a spreadsheet's total: an amount, and no other field but empty ones or a word like "Totaal";
//	                     or a row that fails and holds nothing but amounts and a label such as "Totaal bedrag"
//	                     or "Subtotaal januari" (in the claim reference, a date or code, or a column no field
//	                     takes): one reason, not one per cell. A row with a debtor's reference, name, address,
//	                     contact, bank, KvK, btw or birth date is never a total row, and a BSN (possible_bsn,
//	                     bsn_in_btw_id) is found before a row is read as a total
//	possible_bsn         a BSN in a free-text cell (see BSN above); a security event
//
// File reasons (the whole file is rejected: [Process] returns an error matching [ErrRejected]):
//
//	empty_file           no header line
//	invalid_header       the header line cannot be read
//	missing_column       a required field has no column; named by the layout's header(s) for it
//	wrong_delimiter      the header line is not split by the layout's delimiter: it lacks a required
//	                     column at the layout's delimiter, but another delimiter (named in the
//	                     explanation) splits it into the missing columns, or it has no delimiter at
//	                     all and its words name them; one reason, not one missing_column per column.
//	                     A line no other split gives a column (a title line above the header, say)
//	                     is read as the header: missing_column
//	duplicate_column     two columns map to the same field
//	unclosed_quote       a quoted cell runs across lines to the end of the file
//	record_too_long      a row longer than MaxRecordBytes
//	bsn_column           a column whose header names a BSN, or whose values are BSNs (also matches ErrBSN)
//	bsn_in_btw_id        a legacy btw number on a natural person's row: built from a BSN (also ErrBSN)
//	unaccounted_lines    the file's lines are not its header, rows, continued and blank lines
//	no_rows              text after the header line, but not one row
//
// A legacy btw number (one passing only the 11-proof) is built from an RSIN for a company but from
// the BSN for a natural person, and the number alone cannot tell which: a row that has one and a
// birth date, which only a person has, is taken for the second.
package transform
