package transform

import (
	"encoding/csv"
	"errors"
	"io"
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
	ev   event
	line int      // first line of the row
	rec  []string // for evRow
	err  error    // for evReadError
}

const batchRows = 512

type batch struct {
	rows  []rowEvent
	cells []string // backing array of the rows' rec slices
}

type rowReader struct {
	cr    *csv.Reader
	lim   *limiter
	out   chan *batch
	free  chan *batch
	done  chan struct{}
	wg    sync.WaitGroup
	next  int // the line after the last row read
	close sync.Once
}

func startRowReader(cr *csv.Reader, lim *limiter) *rowReader {
	r := &rowReader{cr: cr, lim: lim, out: make(chan *batch, 2), free: make(chan *batch, 3), done: make(chan struct{}), next: 2}
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
	b.rows, b.cells = b.rows[:0], b.cells[:0]
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
			r.next = pe.Line + 1
			return rowEvent{ev: evBrokenQuoting, line: pe.StartLine}, false
		case errors.Is(err, errRecordTooLong):
			return rowEvent{ev: evTooLong, line: r.next}, true
		}
		return rowEvent{ev: evReadError, err: err}, true
	}
	line, _ := r.cr.FieldPos(0)
	end, _ := r.cr.FieldPos(len(rec) - 1)
	r.next = end + 1
	start := len(b.cells)
	b.cells = append(b.cells, rec...) // the strings are the reader's new ones: only the slice is reused
	return rowEvent{ev: evRow, line: line, rec: b.cells[start:len(b.cells):len(b.cells)]}, false
}
