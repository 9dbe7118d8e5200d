package transform

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	xtransform "golang.org/x/text/transform"
)

// Stats counts what Process did with a file.
//
// Every physical line of a file that Process read to its end is accounted for:
//
//	Lines == 1 (the header) + Rows + Continued + Blank
//
// and Process rejects a file whose lines do not add up (unaccounted_lines). Lines, Continued and
// Blank are complete only when Process read the file to its end.
type Stats struct {
	Lines     int            // physical lines, each ended by CR, LF or CRLF, or by the end of the file
	Rows      int            // data rows read (the header not counted): Written + Rejected
	Written   int            // rows accepted and written to every output
	Rejected  int            // rows rejected
	Blank     int            // blank lines skipped: empty, or every cell empty or spaces
	Continued int            // lines that continue the header or a row past a line break inside a quoted cell
	Reasons   map[string]int // reason code -> number of reject report lines
	// PossibleBSN counts the rows rejected as possible_bsn: the caller logs it as a security
	// event (with the count, never a value).
	PossibleBSN int
	// Ignored lists the source headers that map to no canonical field: their columns are
	// dropped on reading. It is filled only for a file Process accepts, so that a file without a
	// header line, or whose lines did not add up, does not put a row of data here.
	Ignored []string
}

// Accounted reports whether every line of the file is accounted for (see Stats).
func (s Stats) Accounted() bool { return s.Lines == 1+s.Rows+s.Continued+s.Blank }

// Process streams in through the layout, validation, each output's profile and neutralization.
// Good rows go to every output; each bad row gets one line per problem in the reject report
// written to rejects (columns line, reference, column, reason; rejects may be nil). Memory stays
// flat whatever the file's size, but for one thing: a claim file keeps a 64-bit fingerprint of
// each claim reference (11 to 21 bytes a row) to find a reference it repeats. (The BSN column
// test keeps at most 256 numbers a column, whatever the size.) Rows are read on a
// goroutine of Process's own, which has ended by the time Process returns; outputs and Subject are
// written and called from the calling goroutine.
//
// A file that cannot be parsed, or that carries a BSN, returns a *FileError matching ErrRejected
// (and ErrBSN for the BSN case), also written as a line of the reject report: the caller must then
// discard every output, which may hold rows written before the problem was found. A bad layout,
// output or profile returns a plain error before any input is read. Cancelling ctx stops the run
// with ctx's error.
func Process(ctx context.Context, in io.Reader, l Layout, outs []Output, rejects io.Writer) (Stats, error) {
	st := Stats{Reasons: map[string]int{}}
	if err := l.Validate(); err != nil {
		return st, err
	}
	rd := records[l.Record]
	ws := make([]*outWriter, 0, len(outs))
	for _, o := range outs {
		w, err := newOutWriter(o, rd)
		if err != nil {
			return st, err
		}
		ws = append(ws, w)
	}
	for _, w := range ws {
		if err := w.start(); err != nil {
			return st, fmt.Errorf("transform: write output %s: %w", w.out.Profile.Name, err)
		}
	}
	var rep *csv.Writer
	if rejects != nil {
		rep = csv.NewWriter(rejects)
		rep.Write(reportHeader)
	}
	p := &pipeline{ctx: ctx, l: l, rd: rd, outs: ws, rep: rep, st: &st, x: newExplainer(l, rd)}
	err := p.run(in)
	for _, w := range ws {
		if cerr := w.close(); err == nil && cerr != nil {
			err = fmt.Errorf("transform: write output %s: %w", w.out.Profile.Name, cerr)
		}
	}
	if rep != nil {
		rep.Flush()
		if cerr := rep.Error(); err == nil && cerr != nil {
			err = fmt.Errorf("transform: write reject report: %w", cerr)
		}
	}
	return st, err
}

// reportHeader is the header line of a reject report.
var reportHeader = []string{"line", "reference", "column", "reason", "verwacht", "expected"}

// WriteFileReport writes to w a reject report of the one reason the file
// was rejected whole for, before any row was judged (line 0), with what
// was expected in Dutch (nl) and English (en): a file that failed its
// OpenPGP check, say.
func WriteFileReport(w io.Writer, reason, nl, en string) error {
	rep := csv.NewWriter(w)
	rep.Write(reportHeader)
	rep.Write([]string{"0", "", "", reason, nl, en})
	rep.Flush()
	return rep.Error()
}

type problem struct {
	col    int // source column, -1 for the whole row
	reason string
}

type pipeline struct {
	ctx  context.Context
	l    Layout
	rd   *recordDef
	outs []*outWriter
	rep  *csv.Writer
	st   *Stats
	x    *explainer

	labels   []string          // source header labels safe to print
	mapped   map[string]string // lower-case source header -> field, from the layout
	colSlot  []int             // source column -> record slot, -1 = dropped
	slotCol  []int             // record slot -> source column, -1 = absent
	required []bool            // by slot
	slots    []any
	kinds    []kind // by slot
	written  []bool // by slot: some output writes the field
	empty    []bool // by slot, this row
	dec      byte
	date     dateLayout
	today    Date

	creditorRef, debtorRef, principal, birthDate, btwID, creditor, caseRef int // slots, -1 = none

	seen *refSet // fingerprints of the claim references seen; nil for other records
	seed maphash.Seed
	errs []problem

	ignored    []string    // Stats.Ignored, once the file is accepted
	headerLine int         // the first line of the header
	headerEnd  int         // the last line of the header
	bsnCols    []bsnColumn // by source column
}

func (p *pipeline) run(in io.Reader) error {
	cs, _ := charsetOf(p.l.Charset)
	lim, err := openInput(in, cs)
	if err != nil {
		return fmt.Errorf("transform: read: %w", err)
	}
	le := new(lineEnds)
	br := bufio.NewReaderSize(xtransform.NewReader(lim, le), readBuffer)
	cr := csv.NewReader(br)
	cr.Comma = p.l.Delimiter
	p.columns()
	// Lines before the header that hold only white space and delimiters are blank: the layout's
	// delimiter, or any of delimiters for a layout whose delimiter is found from the header line.
	before := ""
	if cr.Comma == 0 {
		before = string(delimiters[:])
		cr.Comma = detectDelimiter(br)
	} else if line, n := firstLine(br, string(cr.Comma)); line != nil {
		// A header line split by another delimiter: one reason for the file, not one for each
		// column the reader cannot find.
		if found, cells, ok := p.otherSplit(string(line)); ok {
			// A BSN column stays a security event, whatever the delimiter.
			for i, h := range cells {
				if isBSNHeader(h) {
					return p.reject(n, p.bsnLabel(cells, i), ReasonBSNColumn)
				}
			}
			nl, en := p.x.wrongDelimiter(found)
			return p.rejectWith(n, "", ReasonWrongDelimiter, nl, en)
		}
	}
	cr.FieldsPerRecord = -1 // ragged rows are a row's problem, not the reader's
	cr.ReuseRecord = true

	header, err := cr.Read()
	for err == nil && blankRow(header, before) {
		// Blank lines before the header (Excel's ";;;" too) are skipped as blank.
		header, err = cr.Read()
	}
	lim.mark = cr.InputOffset()
	switch {
	case err == io.EOF:
		return p.reject(0, "", ReasonEmptyFile)
	case errors.Is(err, errRecordTooLong):
		return p.reject(1, "", ReasonRecordTooLong)
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return p.reject(1, "", ReasonInvalidHeader)
		}
		return fmt.Errorf("transform: read: %w", err)
	}
	first, last := recordLines(cr, header)
	p.st.Blank, p.st.Continued, p.headerLine, p.headerEnd = first-1, last-first, first, last
	p.x.cells = len(header)
	if err := p.mapHeader(header); err != nil {
		return err
	}

	rr := startRowReader(cr, lim, p.headerEnd, p.checkCells)
	defer rr.stop()
	for b := range rr.out {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		for _, ev := range b.rows {
			switch ev.ev {
			case evUnclosedQuote:
				return p.reject(ev.line, "", ReasonUnclosedQuote)
			case evTooLong:
				return p.reject(ev.line, "", ReasonRecordTooLong)
			case evReadError:
				return fmt.Errorf("transform: read: %w", ev.err)
			}
			p.st.Blank += ev.blank
			p.st.Continued += ev.end - ev.line
			if ev.ev == evBrokenQuoting {
				p.st.Rows++
				p.rejectRow(ev.line, "", []problem{{-1, ReasonBrokenQuoting}})
				continue
			}
			if ev.empty {
				p.st.Blank++
				continue
			}
			p.st.Rows++
			if !ev.checked {
				p.rejectRow(ev.line, "", []problem{{-1, ReasonRaggedRow}})
				continue
			}
			if err := p.row(ev.line, ev.rec, ev.bsn); err != nil {
				return err
			}
		}
		rr.recycle(b)
	}
	// The reader is done, so rr.next and le are final.
	return p.finish(rr.next-1, le)
}

// finish checks a file read to its end, whose last row ends on line last: every line is
// accounted for, a file with text after its header has a row, and no column holds BSNs.
func (p *pipeline) finish(last int, le *lineEnds) error {
	p.st.Lines = le.lines()
	if p.st.Lines > last {
		p.st.Blank += p.st.Lines - last // encoding/csv skips empty lines at the end
	}
	if le.lastText != last {
		// Text on a line after the last row, which only a reader that missed line ends leaves.
		return p.reject(min(last, le.lastText)+1, "", ReasonUnaccounted)
	}
	if !p.st.Accounted() {
		return p.reject(0, "", ReasonUnaccounted)
	}
	if p.st.Rows == 0 && le.lastText > p.headerEnd {
		return p.reject(p.headerEnd+1, "", ReasonNoRows)
	}
	for col := range p.bsnCols {
		if c := &p.bsnCols[col]; c.holdsBSN() {
			return p.reject(c.line, p.labels[col], ReasonBSNColumn)
		}
	}
	p.st.Ignored = p.ignored
	return nil
}

// blankRow reports whether every cell of rec is blank (see blank), also of the runes in delims:
// a blank line, or a row that Excel writes as ";;;" because its cells were once formatted. Split by
// the file's delimiter, a line of nothing but white space and that delimiter is blank (delims
// ""); before the header of a file whose delimiter is detected, one of any of delimiters too, as
// firstLine skips it.
func blankRow(rec []string, delims string) bool {
	for _, c := range rec {
		if !blank(c, delims) {
			return false
		}
	}
	return true
}

// blank reports whether s holds nothing but white space and runes of delims.
func blank(s, delims string) bool {
	if len(s) > 0 && s[0] < utf8.RuneSelf && !asciiSpace(s[0]) && strings.IndexByte(delims, s[0]) < 0 {
		return false // the common case, decided by the first byte
	}
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(delims, r) }) == ""
}

// printable reports whether c is printable ASCII other than a space: a cell that starts and
// ends with one needs no trimming.
func printable(c byte) bool { return ' ' < c && c < 0x7f }

// asciiSpace reports whether c is an ASCII byte unicode.IsSpace takes for white space.
func asciiSpace(c byte) bool { return c == ' ' || '\t' <= c && c <= '\r' }

// columns works out, from the layout alone, which field each header names (p.mapped) and which
// fields are required (p.required).
func (p *pipeline) columns() {
	p.mapped = make(map[string]string, len(p.l.Columns))
	for src, field := range p.l.Columns {
		p.mapped[strings.ToLower(strings.TrimSpace(src))] = field
	}
	p.required = make([]bool, len(p.rd.fields))
	for i, f := range p.rd.fields {
		p.required[i] = f.required
	}
	for _, f := range p.l.Required {
		p.required[p.rd.byName[f]] = true
	}
}

// bsnLabel names column i of the header cells, which names a BSN, in a rejection: by its header
// only if cells hold every required column, else by its number. Only then is the header line
// known to be one: a file without a header line has a row of data there, and a name in it can
// read as a BSN header ("S. Bsnijder").
func (p *pipeline) bsnLabel(cells []string, i int) string {
	have := make([]bool, len(p.rd.fields))
	for _, h := range cells {
		if slot, ok := p.slotOf(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))); ok {
			have[slot] = true
		}
	}
	for slot, req := range p.required {
		if req && !have[slot] {
			return "column " + strconv.Itoa(i+1)
		}
	}
	return label(cells[i], i)
}

// mapHeader maps the header's columns onto the record's slots, and rejects the file for a BSN
// column, a required field without a column, or a field with two.
func (p *pipeline) mapHeader(header []string) error {
	p.labels = make([]string, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))
		header[i] = h
		p.labels[i] = label(h, i)
	}
	for i, h := range header {
		if isBSNHeader(h) {
			return p.reject(p.headerLine, p.bsnLabel(header, i), ReasonBSNColumn)
		}
	}
	n := len(p.rd.fields)
	p.colSlot = make([]int, len(header))
	p.slotCol = make([]int, n)
	var ignored []string
	for i := range p.slotCol {
		p.slotCol[i] = -1
	}
	for i, h := range header {
		p.colSlot[i] = -1
		slot, ok := p.slotOf(h)
		if !ok {
			if h != "" {
				ignored = append(ignored, p.labels[i])
			}
			continue
		}
		if p.slotCol[slot] >= 0 {
			return p.reject(p.headerLine, p.labels[i], ReasonDuplicateColumn)
		}
		p.colSlot[i], p.slotCol[slot] = slot, i
	}
	var missing []int // slots
	for i := range p.rd.fields {
		if p.required[i] && p.slotCol[i] < 0 {
			missing = append(missing, i)
		}
	}
	var fe *FileError
	for _, slot := range missing {
		// Named by the creditor's own header, as the layout maps it.
		headers := p.sourceHeaders(p.rd.fields[slot].name)
		nl, en := p.x.missingColumn(headers)
		p.report(p.headerLine, "", headers[0], ReasonMissingColumn, nl, en)
		if fe == nil {
			fe = &FileError{Line: p.headerLine, Column: headers[0], Reason: ReasonMissingColumn}
		}
	}
	if fe != nil {
		return fe
	}
	// Only once the file is accepted is the header line known to be one: a file without a header
	// line has a row of data there, which must not reach Stats (and so a log line).
	p.ignored = ignored
	p.bsnCols = make([]bsnColumn, len(header))

	p.slots = p.rd.slots()
	p.kinds = make([]kind, n)
	p.written = make([]bool, n)
	for i, f := range p.rd.fields {
		p.kinds[i] = f.kind
	}
	for _, w := range p.outs {
		for _, c := range w.cols {
			p.written[c.slot] = true
		}
	}
	p.empty = make([]bool, n)
	for i := range p.empty {
		p.empty[i] = true
	}
	p.dec = '.'
	if p.l.Decimal == ',' {
		p.dec = ','
	}
	p.date = isoDate
	if p.l.DateFormat != "" {
		p.date = compileDate(p.l.DateFormat)
	}
	now := time.Now()
	p.today = Date{now.Year(), now.Month(), now.Day()}
	slot := func(name string) int {
		if i, ok := p.rd.byName[name]; ok && p.slotCol[i] >= 0 {
			return i
		}
		return -1
	}
	p.creditorRef, p.debtorRef, p.principal = slot("creditor_ref"), slot("debtor_ref"), slot("principal")
	p.birthDate, p.btwID, p.creditor = slot("birth_date"), slot("btw_id"), slot("creditor")
	p.caseRef = slot("case_ref")
	if p.rd.name == "claim" {
		p.seen = new(refSet)
		p.seed = maphash.MakeSeed()
	}
	return nil
}

// slotOf is the record slot of the field a header h maps to: through the layout's columns
// (p.mapped: lower-case header -> field), or by its canonical name.
func (p *pipeline) slotOf(h string) (int, bool) {
	field, ok := p.mapped[strings.ToLower(h)]
	if !ok {
		field = strings.ToLower(h)
	}
	slot, ok := p.rd.byName[field]
	return slot, ok
}

// otherSplit tells whether the header line of a file whose layout names its delimiter is split
// by another one. Split at the layout's delimiter, the line must lack a required column; found
// is then the delimiter, other than the layout's, that splits the line into the most of the
// missing columns, cells what it splits the line into. Excel's "Formatted text (space
// delimited)", a line without any of delimiters that names a missing column between its spaces,
// has found 0. ok is false for a line that no other split gives a missing column (a title line
// above the header, say): it is read as the header, and the columns it lacks are reported as
// missing_column.
func (p *pipeline) otherSplit(line string) (found rune, cells []string, ok bool) {
	have := make([]bool, len(p.rd.fields))
	for _, h := range splitLine(line, p.l.Delimiter) {
		if slot, ok := p.slotOf(h); ok {
			have[slot] = true
		}
	}
	missing := func(cells []string) int {
		n := 0
		for _, h := range cells {
			if slot, ok := p.slotOf(h); ok && p.required[slot] && !have[slot] {
				n++
			}
		}
		return n
	}
	best := 0
	for _, d := range delimiters {
		if rune(d) == p.l.Delimiter {
			continue
		}
		if c := splitLine(line, rune(d)); missing(c) > best {
			best, found, cells = missing(c), rune(d), c
		}
	}
	if best > 0 {
		return found, cells, true
	}
	if c := strings.Fields(line); delimiterCounts([]byte(line)) == [4]int{} && missing(c) > 0 {
		return 0, c, true
	}
	return 0, nil, false
}

// splitLine splits a line at the delimiter d, quotes read as in a CSV file, into its cells
// without white space or quotes around them.
func splitLine(line string, d rune) []string {
	cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(line, "\uFEFF")))
	cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord = d, true, -1
	cells, err := cr.Read()
	if err != nil {
		cells = strings.Split(line, string(d))
	}
	for i, c := range cells {
		cells[i] = strings.TrimSpace(strings.Trim(strings.TrimSpace(c), `"`))
	}
	return cells
}

// sourceHeaders names a field as the creditor does: the layout's source headers that map to it
// (sorted), or else its canonical name.
func (p *pipeline) sourceHeaders(field string) []string {
	var hs []string
	for src, f := range p.l.Columns {
		if f == field {
			hs = append(hs, strings.TrimSpace(src))
		}
	}
	if len(hs) == 0 {
		return []string{field}
	}
	slices.Sort(hs)
	return hs
}

// label is how a header is named in errors and reports: itself, unless it looks like data (a
// file without a header line has a row there) or cannot be printed; then "column N".
func label(h string, i int) string {
	digits, maxDigits := 0, 0
	for j := 0; j < len(h); j++ {
		if isDigit(h[j]) {
			digits++
			maxDigits = max(maxDigits, digits)
		} else {
			digits = 0
		}
	}
	if h == "" || len(h) > 64 || maxDigits >= 5 || strings.ContainsRune(h, '@') || checkText(h, 64) != "" {
		return "column " + strconv.Itoa(i+1)
	}
	return h
}

// checkCells is the part of a row's checks that needs neither another row nor a parsed value,
// run on the reading goroutine (startRowReader) as each row is read: it reports whether rec is
// blank, and if not, whether it has the header's number of cells; if it has, it trims every
// cell of white space in place, adds the cells to the BSN evidence of their columns (p.bsnCols,
// which nothing else touches until the reader has ended) and appends to bsn the columns whose
// cell may hold a BSN (bsnCell). It reads nothing else of p but the header's mapping, which is
// fixed before the reader starts.
func (p *pipeline) checkCells(rec []string, line int, bsn []int32) (empty, checked bool, _ []int32) {
	if blankRow(rec, "") {
		return true, false, bsn
	}
	if len(rec) != len(p.colSlot) {
		return false, false, bsn
	}
	for col, slot := range p.colSlot {
		cell := rec[col]
		if n := len(cell); n > 0 && (!printable(cell[0]) || !printable(cell[n-1])) {
			cell = strings.TrimSpace(cell)
			rec[col] = cell
		}
		if cell != "" {
			p.bsnCols[col].add(cell, line)
			if p.bsnCell(slot, cell) {
				bsn = append(bsn, int32(col))
			}
		}
	}
	return false, true, bsn
}

// row validates one row of the file, whose cells checkCells has trimmed and whose columns in
// bsn may hold a BSN, and writes it to every output, or rejects it.
func (p *pipeline) row(line int, rec []string, bsnCols []int32) error {
	p.errs = p.errs[:0]
	legacyBTW, bsn := false, len(bsnCols) > 0
	for col, slot := range p.colSlot {
		cell := rec[col]
		if len(bsnCols) > 0 && int(bsnCols[0]) == col {
			p.errs, bsnCols = append(p.errs, problem{col, ReasonPossibleBSN}), bsnCols[1:]
		}
		if slot < 0 {
			continue
		}
		if reason := p.parse(slot, cell, &legacyBTW); reason != "" {
			p.errs = append(p.errs, problem{col, reason})
		}
	}
	// The security checks come before a row is read as a total: a BSN always wins.
	if legacyBTW && p.birthDate >= 0 && !p.empty[p.birthDate] {
		// A legacy btw number of a natural person (a row with a birth date) is their BSN.
		return p.reject(line, p.labels[p.slotCol[p.btwID]], ReasonBSNInBTWID)
	}
	if bsn {
		p.st.PossibleBSN++
	} else if p.totalRow() || (len(p.errs) > 0 && p.labelledTotal(rec)) {
		p.rejectRow(line, "", []problem{{-1, ReasonTotalRow}})
		return nil
	}
	ok := func(slot int) bool { return slot >= 0 && !p.empty[slot] && !p.failed(slot) }
	if ok(p.principal) && *p.slots[p.principal].(*Amount) < 0 {
		p.errs = append(p.errs, problem{p.slotCol[p.principal], ReasonNegativeAmount})
	}
	if ok(p.birthDate) && dateAfter(*p.slots[p.birthDate].(*Date), p.today) {
		p.errs = append(p.errs, problem{p.slotCol[p.birthDate], ReasonInvalidDate})
	}
	ref := ""
	if ok(p.creditorRef) {
		ref = string(*p.slots[p.creditorRef].(*Ref))
		if p.seen != nil {
			if !p.seen.add(maphash.String(p.seed, ref)) {
				p.errs = append(p.errs, problem{p.slotCol[p.creditorRef], ReasonDuplicateRef})
			}
		}
	}
	if len(p.errs) > 0 {
		p.rejectRow(line, ref, p.errs)
		return nil
	}
	p.st.Written++
	for _, w := range p.outs {
		if err := w.write(p.slots, p.empty); err != nil {
			return fmt.Errorf("transform: write output %s: %w", w.out.Profile.Name, err)
		}
		if w.out.Subject != nil && p.debtorRef >= 0 && !p.empty[p.debtorRef] {
			var creditor string
			if p.creditor >= 0 && !p.empty[p.creditor] {
				creditor = string(*p.slots[p.creditor].(*Ref))
			}
			var caseRef string
			if p.caseRef >= 0 && !p.empty[p.caseRef] {
				caseRef = string(*p.slots[p.caseRef].(*Ref))
			}
			w.out.Subject(creditor, string(*p.slots[p.debtorRef].(*Ref)), caseRef)
		}
	}
	return nil
}

// bsnCell reports whether a non-empty cell of the field in slot (-1: a column no field takes)
// holds a BSN: any passing number in free text, one named as a BSN (eight digits without the
// leading 0 too) there or in a reference, an e-mail address or a column no field takes. Other
// fields have a shape a BSN in them fails.
func (p *pipeline) bsnCell(slot int, cell string) bool {
	if len(cell) < 9 {
		return false
	}
	k := kindRef // a column no field takes: read as a reference
	if slot >= 0 {
		k = p.rd.fields[slot].kind
	}
	switch k {
	case kindText:
		return bsnInText(cell) || bsnNamed(cell)
	case kindRef, kindEmail:
		return bsnNamed(cell)
	}
	return false
}

// totalRow reports whether the row looks like a spreadsheet's total: an amount, and no other
// field but empty ones or a word such as "Totaal".
func (p *pipeline) totalRow() bool {
	amount := false
	for slot, col := range p.slotCol {
		if col < 0 || p.empty[slot] {
			continue
		}
		switch v := p.slots[slot].(type) {
		case *Amount:
			amount = true
		case *Text:
			if !totalWord(string(*v)) {
				return false
			}
		case *Ref:
			if !totalWord(string(*v)) {
				return false
			}
		default:
			return false
		}
	}
	return amount
}

// labelledTotal reports whether a row that failed is a spreadsheet's total with a label where a
// field does not take it (a date column, say) or a longer label ("Totaal bedrag", "Som van
// Bedrag"): it has an amount, at least one cell that starts with a total word, and no other cell
// but empty ones. The label may stand in the claim reference, a field that is no identity (a date,
// say) or a column no field takes; a row with anything in a field that names or identifies a
// debtor or a claim (labelFields lists the others) is never a total row. Such a row gets one
// total_row, not a reason for each cell.
func (p *pipeline) labelledTotal(rec []string) bool {
	amount, label := false, false
	for col, slot := range p.colSlot {
		c := strings.TrimSpace(rec[col])
		switch {
		case c == "":
		case slot >= 0 && p.rd.fields[slot].kind == kindAmount:
			amount = true
		case slot >= 0 && !labelFields[p.rd.fields[slot].name]:
			return false
		case totalLabel(c):
			label = true
		default:
			return false
		}
	}
	return amount && label
}

// labelFields are the fields other than amounts whose cell may hold a total row's label: the
// claim reference, dates and codes, none of which identifies a debtor. (Columns no field takes
// may hold it too.)
var labelFields = map[string]bool{
	"creditor_ref": true, "invoice_date": true, "payment_date": true, "status_date": true, "status_code": true,
}

// totalLabel reports whether s starts with a total word as a word of its own: "Totaal",
// "Totaal bedrag", "Som van Bedrag", "Eindtotaal:".
func totalLabel(s string) bool {
	for _, w := range totalWords {
		if len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) {
			if len(s) == len(w) {
				return true
			}
			c := s[len(w)]
			if !isDigit(c) && !('a' <= c|0x20 && c|0x20 <= 'z') && c < 0x80 {
				return true
			}
		}
	}
	return false
}

// totalWord reports whether s is how a spreadsheet labels a total row.
func totalWord(s string) bool {
	if len(s) < 3 || len(s) > 13 {
		return false
	}
	switch s[0] | 0x20 {
	case 't', 's', 'e', 'g':
	default:
		return false
	}
	s = strings.TrimRight(s, ": ")
	for _, w := range totalWords {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}

var totalWords = []string{"totaal", "total", "totalen", "totals", "subtotaal", "subtotal", "eindtotaal", "grand total", "som", "sum"}

func (p *pipeline) failed(slot int) bool {
	col := p.slotCol[slot]
	for _, e := range p.errs {
		if e.col == col {
			return true
		}
	}
	return false
}

func dateAfter(a, b Date) bool {
	if a.Year != b.Year {
		return a.Year > b.Year
	}
	if a.Month != b.Month {
		return a.Month > b.Month
	}
	return a.Day > b.Day
}

// parse reads one trimmed cell into its slot and returns a reason code, or "". A phone number
// that no output writes is checked, not built (only its emptiness is read then).
func (p *pipeline) parse(slot int, cell string, legacyBTW *bool) string {
	empty := cell == ""
	p.empty[slot] = empty
	var reason string
	switch v := p.slots[slot]; p.kinds[slot] {
	case kindText:
		*v.(*Text), reason = Text(cell), checkText(cell, maxText)
	case kindRef:
		*v.(*Ref), reason = Ref(cell), checkText(cell, maxRef)
	case kindEmail:
		*v.(*Email) = Email(cell)
		if !empty {
			reason = checkEmail(cell)
		}
	case kindCode:
		*v.(*Code), reason = Code(cell), checkCode(cell)
	case kindAmount:
		a := v.(*Amount)
		*a = 0
		if !empty {
			*a, reason = parseAmount(cell, p.dec)
		}
	case kindDate:
		d := v.(*Date)
		*d = Date{}
		if !empty {
			*d, reason = p.date.parse(cell)
		}
	case kindIBAN:
		iban := v.(*IBAN)
		*iban = ""
		if !empty {
			*iban, reason = parseIBAN(cell)
		}
	case kindPostcode:
		pc := v.(*Postcode)
		*pc = ""
		if !empty {
			*pc, reason = parsePostcode(cell)
		}
	case kindPhone:
		ph := v.(*Phone)
		*ph = ""
		switch {
		case empty:
		case p.written[slot]:
			*ph, reason = parsePhone(cell)
		default:
			var buf [16]byte
			_, _, reason = phoneParts(cell, &buf)
		}
	case kindKvK:
		*v.(*KvK) = KvK(cell)
		if !empty {
			reason = checkKvK(cell)
		}
	case kindBTWID:
		id := v.(*BTWID)
		*id = ""
		if !empty {
			*id, *legacyBTW, reason = parseBTWID(cell)
		}
	}
	if reason == "" && empty && p.required[slot] {
		reason = ReasonMissingRequired
	}
	return reason
}

// rejectRow writes a rejected row's problems to the report.
func (p *pipeline) rejectRow(line int, ref string, errs []problem) {
	p.st.Rejected++
	for _, e := range errs {
		col, slot := "", -1
		if e.col >= 0 {
			col, slot = p.labels[e.col], p.colSlot[e.col]
		}
		nl, en := p.x.row(e.reason, slot)
		p.report(line, ref, col, e.reason, nl, en)
	}
}

// report writes one line of the reject report: nl and en say what was expected.
func (p *pipeline) report(line int, ref, col, reason, nl, en string) {
	p.st.Reasons[reason]++
	if p.rep == nil {
		return
	}
	l := ""
	if line > 0 {
		l = strconv.Itoa(line)
	}
	p.rep.Write([]string{l, neutralize(ref), neutralize(col), reason, nl, en})
}

// reject rejects the whole file.
func (p *pipeline) reject(line int, col, reason string) error {
	nl, en := p.x.row(reason, -1)
	return p.rejectWith(line, col, reason, nl, en)
}

// rejectWith rejects the whole file with the explanation given.
func (p *pipeline) rejectWith(line int, col, reason, nl, en string) error {
	p.report(line, "", col, reason, nl, en)
	return &FileError{Line: line, Column: col, Reason: reason}
}

// Check validates a file offline, as `exchanged check` does: it writes the reject report to
// report, then a blank line and a short summary for a person onboarding a creditor. It returns
// what Process returns.
func Check(ctx context.Context, in io.Reader, l Layout, report io.Writer) (Stats, error) {
	return CheckTo(ctx, in, l, report, report)
}

// CheckTo is Check writing the summary to summary instead, so that report holds the reject
// report alone.
func CheckTo(ctx context.Context, in io.Reader, l Layout, report, summary io.Writer) (Stats, error) {
	st, err := Process(ctx, in, l, nil, report)
	var b strings.Builder
	fmt.Fprintf(&b, "\nlayout %s (record %s): %d rows, %d accepted, %d rejected\n", l.Name, l.Record, st.Rows, st.Written, st.Rejected)
	if st.Lines > 0 {
		fmt.Fprintf(&b, "lines: %d = 1 header + %d rows + %d continued + %d blank\n", st.Lines, st.Rows, st.Continued, st.Blank)
	}
	if len(st.Reasons) > 0 {
		b.WriteString("reasons:")
		for _, r := range sortedKeys(st.Reasons) {
			fmt.Fprintf(&b, " %s=%d", r, st.Reasons[r])
		}
		b.WriteString("\n")
	}
	if len(st.Ignored) > 0 {
		fmt.Fprintf(&b, "ignored columns: %s\n", strings.Join(st.Ignored, ", "))
	}
	switch {
	case err != nil:
		fmt.Fprintf(&b, "file rejected: %v\n", err)
	case st.Rejected > 0:
		b.WriteString("file accepted; rejected rows are left out and reported\n")
	default:
		b.WriteString("file accepted\n")
	}
	if _, werr := io.WriteString(summary, b.String()); err == nil && werr != nil {
		err = werr
	}
	return st, err
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
