package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIdleDaemon builds the real binary, starts `exchanged run` with
// many jobs (500 by default) on schedules that do not fire during the
// measurement and the HTTP endpoint off, and measures its CPU time
// (utime + stime from /proc/PID/stat) and RSS over a minute, after it has
// logged that it started.
func BenchmarkIdleDaemon(b *testing.B) {
	dir := b.TempDir()
	bin := buildExchanged(b, dir)
	conf := writeIdleConfig(b, dir, *idleJobs)
	tick := clockTick()

	var cpuPct, rssMiB, peakMiB float64
	for i := 0; i < b.N; i++ {
		logPath := filepath.Join(dir, fmt.Sprintf("log%d", i))
		logf, err := os.Create(logPath)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), *idleFor+2*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "run", "--config", conf)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.WaitDelay = 10 * time.Second
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		pid := strconv.Itoa(cmd.Process.Pid)
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
				cancel()
				logf.Close()
			}
		}
		defer stop()
		waitLogged(b, logPath, `"started"`, 30*time.Second)
		time.Sleep(2 * time.Second) // let start-up work settle

		t0, c0 := time.Now(), procCPUTicks(b, pid)
		var rssMax int64
		for deadline := t0.Add(*idleFor); time.Now().Before(deadline); {
			time.Sleep(min(time.Second, time.Until(deadline)))
			rssMax = max(rssMax, procStatusBytes(pid, "VmRSS"))
		}
		c1, elapsed := procCPUTicks(b, pid), time.Since(t0)
		hwm := procStatusBytes(pid, "VmHWM")
		if n := countRuns(b, logPath); n != 0 {
			b.Fatalf("%d runs happened while idle: the schedules fired", n)
		}
		stop()

		cpu := time.Duration(c1-c0) * time.Second / time.Duration(tick)
		cpuPct = 100 * cpu.Seconds() / elapsed.Seconds()
		rssMiB, peakMiB = mibOf(rssMax), mibOf(hwm)
		b.Logf("%d jobs idle for %s: cpu %s (%.3f%% of one core), RSS %.1f MiB, peak RSS %.1f MiB",
			*idleJobs, elapsed.Round(time.Second), cpu, cpuPct, rssMiB, peakMiB)
	}
	b.ReportMetric(cpuPct, "cpu-%-of-core")
	b.ReportMetric(rssMiB, "RSS-MiB")
	b.ReportMetric(peakMiB, "peak-RSS-MiB")
}

// buildExchanged builds the release binary (no test tags) into dir and
// returns its path.
func buildExchanged(tb testing.TB, dir string) string {
	tb.Helper()
	bin := filepath.Join(dir, "exchanged")
	build := exec.Command("go", "build", "-o", bin, "./cmd/exchanged")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeIdleConfig writes a config with n jobs between two local partners,
// each on a daily schedule twelve hours away, the HTTP endpoint off.
func writeIdleConfig(tb testing.TB, dir string, n int) string {
	tb.Helper()
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		tb.Fatal(err)
	}
	hour := (time.Now().In(loc).Hour() + 12) % 24
	root := filepath.Join(dir, "cases")
	for _, d := range []string{"state", "cases/inbox", "archive"} {
		mkdir(tb, filepath.Join(dir, d))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nstate_dir: %s\nlog: {level: info, format: json}\nhttp: {listen: \"\"}\n", filepath.Join(dir, "state"))
	fmt.Fprintf(&b, "partners:\n  cases: {role: internal, local: {root: %s}}\n  archive: {role: internal, local: {root: %s}}\n",
		root, filepath.Join(dir, "archive"))
	b.WriteString("jobs:\n")
	for i := range n {
		mkdir(tb, filepath.Join(root, "outbox", fmt.Sprintf("j%03d", i)))
		fmt.Fprintf(&b, "  job-%03d:\n    schedule: \"%d %d * * *\"\n"+
			"    source: {partner: cases, dir: /outbox/j%03d, match: \"*.csv\", settle: 30s, after: delete}\n"+
			"    destinations:\n      - {partner: archive, dir: /inbox}\n", i, i%60, hour, i)
	}
	p := filepath.Join(dir, "exchanged.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// waitLogged polls, bounded in time, until the log holds want.
func waitLogged(tb testing.TB, path, want string, limit time.Duration) {
	tb.Helper()
	const poll = 50 * time.Millisecond
	for range int(limit / poll) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
			return
		}
		time.Sleep(poll)
	}
	b, _ := os.ReadFile(path)
	tb.Fatalf("daemon did not log %s within %s:\n%s", want, limit, lastLines(string(b), 20))
}

func countRuns(tb testing.TB, path string) int {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Count(string(b), `"run finished"`)
}

// procCPUTicks returns utime + stime of a process, in clock ticks.
func procCPUTicks(tb testing.TB, pid string) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		tb.Fatal(err)
	}
	// The command name may hold spaces: fields count from after its ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("/proc/%s/stat: %q", pid, b)
	}
	return utime + stime
}

// clockTick returns the kernel's clock ticks per second (USER_HZ).
func clockTick() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}
