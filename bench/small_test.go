package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/ledger"
)

// BenchmarkSmallFiles moves many small files (10,000 of 2 KiB by default)
// from one directory on a real OpenSSH sshd to another, by one exchanged
// job and by OpenSSH's sftp client, and reports files per second.
//
// exchanged: one run of a job (source on the sshd, after: delete; one
// destination on the same sshd) through exchange.Runner with a real ledger
// in a temp state dir: every file is listed, staged (sha256, fsync),
// recorded, deleted at the source, uploaded under a temp name (fsync on the
// server), size-checked, renamed, recorded and unstaged. The settle wait is
// skipped; its second listing is not.
//
// OpenSSH: one sftp batch that gets the source files by glob into a local
// dir, puts them to the destination, and removes them at the source; and
// the same with -f (fsync each file), closer to what exchanged promises.
func BenchmarkSmallFiles(b *testing.B) {
	s := startServer(b)
	n, size := *smallFiles, *smallKiB<<10
	dir := b.TempDir()
	cfg := s.endpoint(b)
	cfg.KeepAlive = config.Duration(30 * time.Second) // as defaulted from a config file

	// With -benchtime Nx each side runs N times, in turn, and the fastest
	// run of each is compared: on a shared machine a single run of either
	// can be slowed by a neighbour.
	var peer, peerSync peerRun
	var ours, oursCPU time.Duration
	var steps map[string]time.Duration
	for i := 0; i < b.N; i++ {
		src, dst, local := filepath.Join(s.Root, "outbox"), filepath.Join(s.Root, "inbox"), filepath.Join(dir, "local")

		// OpenSSH's client, plain and with -f (fsync every file).
		for _, run := range []struct {
			best  *peerRun
			fsync string
		}{{&peer, ""}, {&peerSync, "-f "}} {
			makeSmall(b, src, n, size)
			mkdir(b, dst)
			quiesce()
			mkdir(b, local)
			*run.best = fastest(*run.best, s.sftpBatch(b, "get "+run.fsync+src+"/*.csv "+local+"/",
				"put "+run.fsync+local+"/*.csv "+dst+"/", "rm "+src+"/*.csv"))
			checkTree(b, dst, n, size)
			cleanDirs(b, local, dst)
		}

		makeSmall(b, src, n, size)
		mkdir(b, dst)
		quiesce()
		cpu0 := selfCPU()
		wall, r, st := runJob(b, cfg, filepath.Join(dir, fmt.Sprintf("state%d", i)), src, dst, *smallParallel)
		if ours == 0 || wall < ours {
			ours, oursCPU, steps = wall, selfCPU()-cpu0, st
		}
		if r.Files != n || r.Delivered != n || r.Failed != 0 {
			b.Fatalf("run = %+v, want %d files delivered", r, n)
		}
		checkTree(b, dst, n, size)
		if left := countFiles(b, src); left != 0 {
			b.Fatalf("%d files left at the source", left)
		}
		cleanDirs(b, dst, filepath.Join(dir, fmt.Sprintf("state%d", i)))
	}
	fps := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
	b.ReportMetric(fps(ours), "exchanged-files/s")
	b.ReportMetric(fps(peer.wall), "openssh-files/s")
	b.ReportMetric(fps(peerSync.wall), "openssh-f-files/s")
	b.ReportMetric(peer.wall.Seconds()/ours.Seconds(), "x-openssh")
	b.ReportMetric(peerSync.wall.Seconds()/ours.Seconds(), "x-openssh-f")
	b.ReportMetric(oursCPU.Seconds()*1e3/float64(n), "exchanged-cpu-ms/file")
	b.ReportMetric(peer.cpu.Seconds()*1e3/float64(n), "openssh-cpu-ms/file")
	b.Logf("%d files of %d KiB, parallel_files %d: exchanged %s (%.0f files/s, CPU %s; per file summed: stage %s, deliver %s); "+
		"OpenSSH sftp get/put/rm %s (%.0f files/s, client CPU %s), with -f %s (%.0f files/s)",
		n, size>>10, parallelOf(*smallParallel), fmtDur(ours), fps(ours), fmtDur(oursCPU), fmtDur(steps["stage"]), fmtDur(steps["deliver"]),
		fmtDur(peer.wall), fps(peer.wall), fmtDur(peer.cpu), fmtDur(peerSync.wall), fps(peerSync.wall))
}

// runJob runs one job from src to dst on the sshd and returns its wall
// time, its result, and the time spent per file step.
func runJob(tb testing.TB, sftp config.SFTP, state, src, dst string, parallel int) (time.Duration, exchange.Result, map[string]time.Duration) {
	tb.Helper()
	dstCfg := sftp
	cfg := &config.Config{Version: 1, StateDir: state, Runs: config.Runs{ParallelFiles: parallelOf(parallel)},
		Partners: map[string]*config.Partner{
			"acme":  {Name: "acme", Role: "creditor", SFTP: &sftp},
			"cases": {Name: "cases", Role: "internal", SFTP: &dstCfg},
		},
		Jobs: map[string]*config.Job{"claims-in": {Name: "claims-in", Schedule: "0 6 * * *",
			Source:       config.Source{Partner: "acme", Dir: src, Match: "*.csv", Settle: durationPtr(30 * time.Second), After: "delete"},
			Destinations: []*config.Destination{{Partner: "cases", Dir: dst}},
		}},
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		tb.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(state, "ledger.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	// Production logs: JSON at info, encoded and thrown away.
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(io.Discard), zap.InfoLevel))
	r, err := exchange.NewRunner(cfg, l, log)
	if err != nil {
		tb.Fatal(err)
	}
	r.Sleep = func(context.Context, time.Duration) error { return nil } // the settle wait
	var mu sync.Mutex
	steps := map[string]time.Duration{}
	r.Observe = func(e exchange.Event) {
		mu.Lock()
		steps[e.Step] += e.Duration
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	start := time.Now()
	res, err := r.Run(ctx, "claims-in")
	wall := time.Since(start)
	if err != nil {
		tb.Fatalf("run: %v (%+v)", err, res)
	}
	return wall, res, steps
}

// parallelOf returns runs.parallel_files for the -small-parallel flag: its
// value, or the config's default for 0.
func parallelOf(flag int) int {
	if flag < 1 {
		return config.DefaultParallelFiles
	}
	return flag
}

// fastest returns the faster of two runs; a zero run counts as none.
func fastest(a, b peerRun) peerRun {
	if a.wall == 0 || b.wall < a.wall {
		return b
	}
	return a
}

// fastestGo is fastest for exchanged's own runs. The peak memory reported
// is the largest of the runs, not the fastest one's.
func fastestGo(a, b goRun) goRun {
	peakRSS, peakHeap := max(a.peakRSS, b.peakRSS), max(a.peakHeap, b.peakHeap)
	if a.wall == 0 || b.wall < a.wall {
		a = b
	}
	a.peakRSS, a.peakHeap = peakRSS, peakHeap
	return a
}

func durationPtr(d time.Duration) *config.Duration { c := config.Duration(d); return &c }

// makeSmall fills dir with n CSV files of size bytes each.
func makeSmall(tb testing.TB, dir string, n, size int) {
	tb.Helper()
	mkdir(tb, dir)
	row := "K-000000;Factuur 2024-000000;Hoofdstraat 1, 1234 AB Utrecht;NL91ABNA0417164300;1.234,56\r\n"
	var sb strings.Builder
	for sb.Len() < size {
		sb.WriteString(row)
	}
	body := []byte(sb.String()[:size])
	for i := range n {
		copy(body[2:8], fmt.Sprintf("%06d", i))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("claims_%06d.csv", i)), body, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func mkdir(tb testing.TB, dir string) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
}

func cleanDirs(tb testing.TB, dirs ...string) {
	tb.Helper()
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			tb.Fatal(err)
		}
	}
}

// checkTree fails unless dir holds exactly n visible files of size bytes
// (and nothing hidden: no temp file left behind).
func checkTree(tb testing.TB, dir string, n, size int) {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	got := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			tb.Fatalf("%s: %s left behind", dir, e.Name())
		}
		fi, err := e.Info()
		if err != nil || fi.Size() != int64(size) {
			tb.Fatalf("%s/%s: %v, want %d bytes", dir, e.Name(), err, size)
		}
		got++
	}
	if got != n {
		tb.Fatalf("%s: %d files, want %d", dir, got, n)
	}
}

func countFiles(tb testing.TB, dir string) int {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return len(ents)
}
