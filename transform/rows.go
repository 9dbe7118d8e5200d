package transform

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"sync"
)

// The rows of a file are read on a goroutine of their own, a batch at a time, while Process
// validates and writes the batch before: reading CSV and validating it take about as long, and
// this way they overlap. The reader owns the csv.Reader and the limiter; Process owns the reader
// and waits for it to end before returning.

type event uint8

const (
	evRow           event = iota
	evBrokenQuoting       // a quote out of place on one line: the row is lost, reading goes on
	evUnclosedQuote       // terminal
	evTooLong             // terminal
	evReadError           // terminal
)

type rowEvent struct {
	ev    event
	line  int      // first line of the row
	end   int      // last line of the row: more than line when a quoted cell holds a line break
	blank int      // empty lines encoding/csv skipped before the row
	rec   []string // for evRow: cells trimmed of white space when the row is checked
	err   error    // for evReadError
	// Set by the row's check (see pipeline.checkCells) for an evRow: the row is blank, or has
	// the header's number of cells and is checked; bsn lists the columns (ascending) whose cell
	// may hold a BSN.
	empty, checked bool
	bsn            []int32
}

const batchRows = 512

// batchesAhead is how many batches the reader may have read ahead of Process. (A batch of 512
// claim rows of the benchmark holds about 300 KiB.) 8 instead of 2, to ride out either goroutine
// losing its CPU on a busy machine, measured no faster within the noise of such a machine and
// took 2 MiB more heap on the 1 GiB payment file, so it stays 2.
const batchesAhead = 2

type batch struct {
	rows  []rowEvent
	cells []string // backing array of the rows' rec slices
	bsn   []int32  // backing array of the rows' bsn slices
}

type rowReader struct {
	cr    *csv.Reader
	check func(rec []string, line int, bsn []int32) (empty, checked bool, _ []int32)
	lim   *limiter
	out   chan *batch
	free  chan *batch
	done  chan struct{}
	wg    sync.WaitGroup
	// next is the line after the last row read. Once out is closed without a terminal event it
	// is final, and the whole input has been read.
	next  int
	close sync.Once
}

// startRowReader starts reading the rows after the header, whose last line is headerEnd.
// check is called on each row read, on the reading goroutine, with the row's first line, to
// append to bsn the columns whose cell may hold a BSN.
func startRowReader(cr *csv.Reader, lim *limiter, headerEnd int, check func(rec []string, line int, bsn []int32) (empty, checked bool, _ []int32)) *rowReader {
	r := &rowReader{cr: cr, check: check, lim: lim, out: make(chan *batch, batchesAhead), free: make(chan *batch, batchesAhead+1), done: make(chan struct{}), next: headerEnd + 1}
	r.wg.Add(1)
	go r.run()
	return r
}

// stop ends the reader and waits for it: once stop returns, nothing reads the input any more.
func (r *rowReader) stop() {
	r.close.Do(func() { close(r.done) })
	r.wg.Wait()
}

// recycle hands a processed batch back for reuse.
func (r *rowReader) recycle(b *batch) {
	b.rows, b.cells, b.bsn = b.rows[:0], b.cells[:0], b.bsn[:0]
	select {
	case r.free <- b:
	default:
	}
}

func (r *rowReader) newBatch() *batch {
	select {
	case b := <-r.free:
		return b
	default:
		return &batch{rows: make([]rowEvent, 0, batchRows), cells: make([]string, 0, batchRows*24)}
	}
}

func (r *rowReader) send(b *batch) bool {
	select {
	case r.out <- b:
		return true
	case <-r.done:
		return false
	}
}

func (r *rowReader) run() {
	defer r.wg.Done()
	defer close(r.out)
	b := r.newBatch()
	for {
		ev, terminal := r.read(b)
		if ev.ev != evRow || ev.rec != nil {
			b.rows = append(b.rows, ev)
		}
		if terminal || len(b.rows) == batchRows {
			if len(b.rows) > 0 && !r.send(b) {
				return
			}
			if terminal {
				return
			}
			b = r.newBatch()
		}
	}
}

// read reads one row into b; terminal reports the end of reading (EOF comes as an evRow without
// cells).
func (r *rowReader) read(b *batch) (rowEvent, bool) {
	rec, err := r.cr.Read()
	r.lim.mark = r.cr.InputOffset()
	if err == io.EOF {
		return rowEvent{}, true
	}
	if err != nil {
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && pe.Line > pe.StartLine:
			// A quote left open ran across lines: the rows it swallowed are lost.
			return rowEvent{ev: evUnclosedQuote, line: pe.StartLine}, true
		case errors.As(err, &pe):
			// encoding/csv drops the rest of the line where it found the quote.
			ev := rowEvent{ev: evBrokenQuoting, line: pe.StartLine, end: pe.Line, blank: pe.StartLine - r.next}
			r.next = pe.Line + 1
			return ev, false
		case errors.Is(err, errRecordTooLong):
			return rowEvent{ev: evTooLong, line: r.next}, true
		}
		return rowEvent{ev: evReadError, err: err}, true
	}
	line, end := recordLines(r.cr, rec)
	ev := rowEvent{ev: evRow, line: line, end: end, blank: line - r.next}
	r.next = end + 1
	start := len(b.cells)
	b.cells = append(b.cells, rec...) // the strings are the reader's new ones: only the slice is reused
	ev.rec = b.cells[start:len(b.cells):len(b.cells)]
	n := len(b.bsn)
	ev.empty, ev.checked, b.bsn = r.check(ev.rec, line, b.bsn)
	ev.bsn = b.bsn[n:len(b.bsn):len(b.bsn)]
	return ev, false
}

// recordLines returns the first and last line of the record rec that cr has just read. A line
// break inside a quoted cell reaches the cell as one LF (encoding/csv reads CRLF so, and
// lineEnds has made every bare CR an LF), so the last line is where the last cell starts plus the
// LFs in it.
func recordLines(cr *csv.Reader, rec []string) (first, last int) {
	first, _ = cr.FieldPos(0)
	last, _ = cr.FieldPos(len(rec) - 1)
	return first, last + strings.Count(rec[len(rec)-1], "\n")
}
