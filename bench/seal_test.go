package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/exchanged/exchanged/exchange"
)

// BenchmarkStagingSeal measures, in this process and on the local disk
// only, what sealing staging costs: a large file (-large-mib) staged as a
// job stages a source copy (sha256, fsync) into a plain file and into
// sealed staging, and read back whole as a delivery reads it, from the
// plain file and from sealed staging (authenticating every chunk). Each
// pair alternates; with -benchtime Nx the fastest of N is reported. The
// ratios (sealed over plain wall time) bound what sealing adds to a
// transfer whose network side is free; the transfers through sshd are in
// BenchmarkLargeFile (pull "staged", push "sealed").
func BenchmarkStagingSeal(b *testing.B) {
	size := int64(*largeMiB) * mib
	dir := b.TempDir()
	src := filepath.Join(dir, "claims_large.csv")
	writeRandom(b, src, size, 3)
	st, err := exchange.OpenStaging(filepath.Join(dir, "staging"), newKey(b))
	if err != nil {
		b.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	var wPlain, wSealed, rPlain, rSealed goRun
	for i := 0; i < b.N; i++ {
		quiesce()
		m := measureGo()
		writePlain(b, src, plain)
		wPlain = fastestGo(wPlain, m.end())

		quiesce()
		m = measureGo()
		stageLocal(b, st, src)
		wSealed = fastestGo(wSealed, m.end())

		quiesce()
		m = measureGo()
		f, err := os.Open(plain)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, struct{ io.Reader }{f}) // no WriterTo: as a delivery's copy
		f.Close()
		rPlain = fastestGo(rPlain, m.end())
		if err != nil || n != size {
			b.Fatalf("read plain: %d of %d bytes: %v", n, size, err)
		}

		quiesce()
		m = measureGo()
		sf, err := st.Open(1, filepath.Base(src))
		if err != nil {
			b.Fatal(err)
		}
		n, err = io.Copy(io.Discard, sf)
		sf.Close()
		rSealed = fastestGo(rSealed, m.end())
		if err != nil || n != size {
			b.Fatalf("read sealed: %d of %d bytes: %v", n, size, err)
		}
		if err := st.Remove(1, filepath.Base(src)); err != nil {
			b.Fatal(err)
		}
		os.Remove(plain)
	}
	b.ReportMetric(mbps(size, wPlain.wall), "stage-plain-MB/s")
	b.ReportMetric(mbps(size, wSealed.wall), "stage-sealed-MB/s")
	b.ReportMetric(wSealed.wall.Seconds()/wPlain.wall.Seconds(), "stage-sealed-x-plain")
	b.ReportMetric(mbps(size, rPlain.wall), "read-plain-MB/s")
	b.ReportMetric(mbps(size, rSealed.wall), "read-sealed-MB/s")
	b.ReportMetric(rSealed.wall.Seconds()/rPlain.wall.Seconds(), "read-sealed-x-plain")
	b.Logf("%d MiB: stage plain %s (cpu %s), sealed %s (cpu %s); read plain %s (cpu %s), sealed %s (cpu %s)",
		size/mib, fmtDur(wPlain.wall), fmtDur(wPlain.cpu), fmtDur(wSealed.wall), fmtDur(wSealed.cpu),
		fmtDur(rPlain.wall), fmtDur(rPlain.cpu), fmtDur(rSealed.wall), fmtDur(rSealed.cpu))
}

// writePlain copies src to dst as staging did before it was sealed: the
// sha256 on the way, fsync at the end.
func writePlain(tb testing.TB, src, dst string) {
	tb.Helper()
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
	_ = hex.EncodeToString(h.Sum(nil))
}
