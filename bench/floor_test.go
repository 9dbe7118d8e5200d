package bench

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/exchanged/exchanged/exchange"
)

// BenchmarkPromiseWork measures, in this process, the CPU of each piece
// of work the life of a file promises beyond moving its bytes, one at a
// time on a large file (-large-mib) already in the page cache: the sha256
// the ledger records, sealing the staged copy and opening it again
// (AES-GCM, internal/seal through exchange.Staging), writing a file and
// fsyncing it (the staged copy; a local destination's too), reading one
// back, and unlinking it; and, per file over 2,000 small files, a small
// file's staged copy (create, write, fsync, read back, unlink). On n CPUs, a transfer that must do this work
// and move the bytes through SFTP takes at least (this work + what the
// transfer alone costs the machine) / n: BENCHMARKS.md's floor adds these
// figures to the machine CPU of BenchmarkUserPath's peers. With
// -benchtime Nx the least CPU of N runs of each step is reported.
func BenchmarkPromiseWork(b *testing.B) {
	size := int64(*largeMiB) * mib
	dir := b.TempDir()
	src := filepath.Join(dir, "claims_large.csv")
	writeRandom(b, src, size, 4)
	st, err := exchange.OpenStaging(filepath.Join(dir, "staging"), newKey(b))
	if err != nil {
		b.Fatal(err)
	}
	best := map[string]goRun{}
	keep := func(step string, r goRun) {
		if o, ok := best[step]; !ok || r.cpu < o.cpu {
			best[step] = r
		}
	}
	plain := filepath.Join(dir, "plain")
	for range b.N {
		m := measureGo()
		readAll(b, src, sha256.New())
		keep("sha256", m.end())

		m = measureGo()
		readAll(b, src, io.Discard)
		keep("read (page cache)", m.end())

		m = measureGo()
		copyFsync(b, src, plain)
		keep("write + fsync", m.end())

		m = measureGo()
		if err := os.Remove(plain); err != nil {
			b.Fatal(err)
		}
		keep("unlink", m.end())

		// Staged: read, hash and seal, write, fsync; the read and the
		// sha256 measured above are in it, so seal = staged - the two.
		m = measureGo()
		stageLocal(b, st, src)
		keep("stage (read + sha256 + seal + write + fsync)", m.end())

		m = measureGo()
		sf, err := st.Open(1, filepath.Base(src))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, sf)
		sf.Close()
		keep("open staged (read + authenticate + decrypt)", m.end())
		if err != nil || n != size {
			b.Fatalf("read sealed: %d of %d bytes: %v", n, size, err)
		}
		if err := st.Remove(1, filepath.Base(src)); err != nil {
			b.Fatal(err)
		}
	}
	// A small file's staged copy, per file: created, written (2 KiB and a
	// header's worth), fsynced, closed, read back, unlinked, as staging
	// does for each small file, in a directory of its own.
	const smallN = 2000
	small := filepath.Join(dir, "small")
	if err := os.Mkdir(small, 0o700); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2<<10+64)
	for range b.N {
		m := measureGo()
		for i := range smallN {
			p := filepath.Join(small, strconv.Itoa(i))
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			_, err = f.Write(buf)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				_, err = os.ReadFile(p)
			}
			if err == nil {
				err = os.Remove(p)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		r := m.end()
		r.cpu, r.wall = r.cpu/smallN, r.wall/smallN
		keep("small staged copy, per file", r)
	}
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	gib := float64(size) / (1 << 30)
	for _, step := range []string{"sha256", "read (page cache)", "write + fsync", "unlink",
		"stage (read + sha256 + seal + write + fsync)", "open staged (read + authenticate + decrypt)"} {
		r := best[step]
		cpu := r.cpu.Seconds() / gib
		w.Write([]byte(step + "\t" + fmtDur(r.cpu) + "\t" + fmtDur(r.wall) + "\n"))
		b.ReportMetric(cpu, strings.Fields(step)[0]+"-CPU-s/GiB")
	}
	r := best["small staged copy, per file"]
	fmt.Fprintf(w, "small staged copy, per file\t%dµs\t%dµs\n", r.cpu.Microseconds(), r.wall.Microseconds())
	b.ReportMetric(float64(r.cpu.Microseconds()), "small-staged-copy-CPU-µs")
	w.Flush()
	b.Logf("%d MiB, in process, least CPU of %d; step, CPU, wall:\n%s", size/mib, b.N, sb.String())
}

// readAll reads path to its end into w, through a 256 KiB buffer.
func readAll(tb testing.TB, path string, w io.Writer) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(w, struct{ io.Reader }{f}, make([]byte, 256<<10)); err != nil {
		tb.Fatal(err)
	}
}

// copyFsync writes src to dst in 256 KiB writes and fsyncs it.
func copyFsync(tb testing.TB, src, dst string) {
	tb.Helper()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	readAll(tb, src, out)
	err = out.Sync()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
}
