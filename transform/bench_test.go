package transform

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The benchmarks compare the full pipeline (read, validate, minimize, write) with a plain
// encoding/csv read and write of the same generated 1M-row claim file, and measure the peak
// memory of a 1 GiB input. See BENCHMARKS.md ("## Transform") for figures and how to run them.

const benchRows = 1_000_000

var validIBANs = []string{"NL91ABNA0417164300", "DE89370400440532013000", "BE68539007547034", "GB82WEST12345698765432"}

// claimHeader is a creditor's canonical claim file: every field but
// creditor, which only the agency's own case system writes.
var claimHeader = strings.Join(slices.DeleteFunc(slices.Clone(Fields("claim")), func(f string) bool { return f == "creditor" }), ",") + "\n"

// appendClaimRow appends generated row i of a canonical claim file: every field filled, valid,
// creditor references unique.
func appendClaimRow(b []byte, i int) []byte {
	b = fmt.Appendf(b, "C-%07d,INV-%08d,K-%07d,Debiteur %d Jansen,Dorpsstraat,%d,%04d AB,Utrecht,19%02d-%02d-%02d,"+
		"debiteur%d@example.nl,06-%08d,%s,%08d,NL000099998B57,F-2025-%d,2025-%02d-%02d,%d.%02d,%d.%02d,40.00\n",
		i, i, i%500_000, i, i%200+1, 1000+i%9000, 40+i%60, 1+i%12, 1+i%28,
		i, i%100_000_000, validIBANs[i%len(validIBANs)], 10_000_000+i%90_000_000, i, 1+i%12, 1+i%28,
		i%100_000, i%100, i%1000, i%100)
	return b
}

var benchFile = sync.OnceValue(func() []byte {
	b := make([]byte, 0, 260*benchRows)
	b = append(b, claimHeader...)
	for i := range benchRows {
		b = appendClaimRow(b, i)
	}
	return b
})

// plainCopy is the baseline: encoding/csv read and write, nothing else.
func plainCopy(in io.Reader, out io.Writer) (int, error) {
	r := csv.NewReader(in)
	r.ReuseRecord = true
	w := csv.NewWriter(out)
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		if err := w.Write(rec); err != nil {
			return n, err
		}
		n++
	}
	w.Flush()
	return n, w.Error()
}

func runPipeline(b *testing.B, in []byte, profileName string) Stats {
	st, err := Process(context.Background(), bytes.NewReader(in), builtin(b, "claim"),
		[]Output{{W: io.Discard, Profile: profile(b, profileName), Subject: func(string, string, string) {}}}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	if st.Written != benchRows {
		b.Fatalf("pipeline wrote %d rows of %d: %v", st.Written, benchRows, st.Reasons)
	}
	return st
}

func allocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// BenchmarkTransform runs each side over the 1M-row file per iteration; -benchmem gives
// allocations per file, allocs/row per row. The ratio sub-benchmark runs both back to back and
// reports pipeline speed as a fraction of the plain copy's (goal: ≥ 0.7, issue 15).
func BenchmarkTransform(b *testing.B) {
	in := benchFile()
	b.Run("plain-csv-copy", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		a := allocs()
		for b.Loop() {
			if n, err := plainCopy(bytes.NewReader(in), io.Discard); err != nil || n != benchRows+1 {
				b.Fatal(n, err)
			}
		}
		b.ReportMetric(float64(allocs()-a)/float64(b.N)/benchRows, "allocs/row")
	})
	for _, p := range []string{"bailiff", "internal"} {
		b.Run("pipeline-"+p, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			a := allocs()
			for b.Loop() {
				runPipeline(b, in, p)
			}
			b.ReportMetric(float64(allocs()-a)/float64(b.N)/benchRows, "allocs/row")
		})
	}
	// Both sides run back to back in each iteration; the fastest run of each is compared, which
	// keeps a busy neighbour on a shared machine from deciding the ratio.
	b.Run("ratio-bailiff", func(b *testing.B) {
		copyNs, pipeNs := int64(1<<62), int64(1<<62)
		var copyAllocs, pipeAllocs uint64
		for b.Loop() {
			a, t := allocs(), nanotime()
			plainCopy(bytes.NewReader(in), io.Discard)
			copyNs = min(copyNs, nanotime()-t)
			copyAllocs += allocs() - a
			a, t = allocs(), nanotime()
			runPipeline(b, in, "bailiff")
			pipeNs = min(pipeNs, nanotime()-t)
			pipeAllocs += allocs() - a
		}
		b.ReportMetric(float64(copyNs)/float64(pipeNs), "speed-ratio")
		b.ReportMetric(float64(copyNs)/1e9, "copy-s")
		b.ReportMetric(float64(pipeNs)/1e9, "pipeline-s")
		b.ReportMetric(float64(copyAllocs)/float64(b.N)/benchRows, "copy-allocs/row")
		b.ReportMetric(float64(pipeAllocs)/float64(b.N)/benchRows, "pipeline-allocs/row")
	})
}

// claimStream generates a claim file of size bytes on the fly, so a 1 GiB input needs no 1 GiB
// in memory, and samples the heap every 16 MiB it hands out.
type claimStream struct {
	left     int64
	i        int
	buf      []byte
	record   string
	next     int64
	peakHeap uint64
}

func (s *claimStream) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if len(s.buf) == 0 {
		if s.i == 0 {
			s.buf = append(s.buf, s.header()...)
		}
		for len(s.buf) < 64<<10 {
			s.buf = s.row(s.buf, s.i)
			s.i++
		}
	}
	n := copy(p, s.buf)
	if int64(n) > s.left {
		n = int(s.left)
	}
	s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	s.left -= int64(n)
	if s.next -= int64(n); s.next <= 0 {
		s.next = 16 << 20
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.peakHeap = max(s.peakHeap, ms.HeapInuse)
	}
	return n, nil
}

func (s *claimStream) header() string {
	if s.record == "payment" {
		return "case_ref,creditor_ref,debtor_ref,paid_amount,payment_date,iban\n"
	}
	return claimHeader
}

func (s *claimStream) row(b []byte, i int) []byte {
	if s.record == "payment" {
		return fmt.Appendf(b, "C-%07d,INV-%08d,K-%07d,%d.%02d,2025-%02d-%02d,%s\n", i, i%1_000_000, i%500_000,
			i%10_000, i%100, 1+i%12, 1+i%28, validIBANs[i%len(validIBANs)])
	}
	return appendClaimRow(b, i)
}

// BenchmarkPeakMemory1GiB streams a generated 1 GiB file through the pipeline and reports the
// peak heap in use. The last row is cut off mid-way, so it is rejected as ragged. Run it on its
// own (-bench PeakMemory) to read the process's peak RSS too.
func BenchmarkPeakMemory1GiB(b *testing.B) {
	for _, record := range []string{"payment", "claim"} {
		b.Run(record, func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				s := &claimStream{left: 1 << 30, record: record}
				l := builtin(b, record)
				p := "internal"
				st, err := Process(context.Background(), s, l, []Output{{W: io.Discard, Profile: profile(b, p)}}, io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				if st.Rejected > 1 {
					b.Fatalf("%d rows rejected: %v", st.Rejected, st.Reasons)
				}
				b.ReportMetric(float64(s.peakHeap)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(st.Rows), "rows")
				if rss := peakRSS(); rss > 0 {
					b.ReportMetric(float64(rss)/(1<<10), "process-peak-rss-MiB")
				}
			}
		})
	}
}

// peakRSS returns the process's peak resident set in KiB (VmHWM), or 0 where /proc has none.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// nanotime returns the wall clock in nanoseconds.
func nanotime() int64 { return time.Now().UnixNano() }

// TestBenchInputIsValid: the benchmarks' generated claim rows pass the
// pipeline whole, so that a change to the canonical record cannot leave
// the benchmarks measuring a file rejected row by row.
func TestBenchInputIsValid(t *testing.T) {
	const rows = 2000
	in := []byte(claimHeader)
	for i := range rows {
		in = appendClaimRow(in, i)
	}
	st, err := Process(context.Background(), bytes.NewReader(in), builtin(t, "claim"),
		[]Output{{W: io.Discard, Profile: profile(t, "bailiff"), Subject: func(string, string, string) {}}}, io.Discard)
	if err != nil || st.Written != rows || st.Rejected != 0 {
		t.Fatalf("Process = %+v, %v; want %d rows written, none rejected", st, err, rows)
	}
}
