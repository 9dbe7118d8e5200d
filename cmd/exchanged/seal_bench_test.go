package main

import (
	"crypto/rand"
	"flag"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/sshdtest"
)

var (
	sealMiB    = flag.Int("seal-mib", 1024, "BenchmarkSealedRun: size of the file, in MiB")
	prevBinary = flag.String("prev-binary", "", "BenchmarkSealedRun: an exchanged binary built before staging was sealed")
)

// BenchmarkSealedRun moves one large file (-seal-mib) through the real
// binary, "exchanged once" of a job from one real OpenSSH sshd to another
// (pull into staging, deliver in temp mode, unstage), with this build,
// which seals staging, and with -prev-binary, a build from before sealing,
// alternately, each from a fresh state_dir. It reports the fastest run of
// each and their ratio. Build the previous binary from the commit before
// sealing, e.g.:
//
//	git archive 67299e1 | tar -x -C /tmp/prev && (cd /tmp/prev && go build -o /tmp/exchanged-prev ./cmd/exchanged)
//	go test -run XXX -bench SealedRun -benchtime 3x ./cmd/exchanged/ -prev-binary /tmp/exchanged-prev
func BenchmarkSealedRun(b *testing.B) {
	if *prevBinary == "" {
		b.Skip("needs -prev-binary")
	}
	src, dst := sshdtest.Start(b), sshdtest.Start(b)
	pool := b.TempDir()
	data := filepath.Join(pool, "claims_large.csv")
	f, err := os.Create(data)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, int64(*sealMiB)<<20); err != nil {
		b.Fatal(err)
	}
	f.Close()
	run := func(bin string) (time.Duration, time.Duration) {
		cfg, outbox, inbox, _ := crashSetup(b, src, dst, nil, "internal", claimsJob)
		os.MkdirAll(outbox, 0o755)
		if err := os.Link(data, filepath.Join(outbox, "claims_large.csv")); err != nil {
			b.Fatal(err)
		}
		writeFile(b, filepath.Join(outbox, "claims_large.csv.done"), nil)
		syscall.Sync()
		start := time.Now()
		r := runBinary(b, bin, nil, "once", "--config", cfg, "claims-in")
		d := time.Since(start)
		fi, err := os.Stat(filepath.Join(inbox, "claims_large.csv"))
		if r.code != 0 || err != nil || fi.Size() != int64(*sealMiB)<<20 {
			b.Fatalf("%s: exit %d, delivered %v\n%s", bin, r.code, err, r.stderr)
		}
		os.Remove(filepath.Join(inbox, "claims_large.csv"))
		return d, r.cpu
	}
	var prev, sealed, prevCPU, sealedCPU time.Duration
	for i := 0; i < b.N; i++ {
		if d, cpu := run(*prevBinary); prev == 0 || d < prev {
			prev, prevCPU = d, cpu
		}
		if d, cpu := run(binary); sealed == 0 || d < sealed {
			sealed, sealedCPU = d, cpu
		}
	}
	mb := float64(int64(*sealMiB)<<20) / 1e6
	b.ReportMetric(mb/prev.Seconds(), "plain-MB/s")
	b.ReportMetric(mb/sealed.Seconds(), "sealed-MB/s")
	b.ReportMetric(sealed.Seconds()/prev.Seconds(), "sealed-x-plain")
	b.ReportMetric(prevCPU.Seconds(), "plain-cpu-s")
	b.ReportMetric(sealedCPU.Seconds(), "sealed-cpu-s")
	b.Logf("%d MiB pulled and pushed by exchanged once: plain staging (previous build) %s (cpu %s), sealed staging %s (cpu %s): %+.0f%% wall",
		*sealMiB, prev.Round(time.Millisecond), prevCPU.Round(time.Millisecond), sealed.Round(time.Millisecond),
		sealedCPU.Round(time.Millisecond), (sealed.Seconds()/prev.Seconds()-1)*100)
}
