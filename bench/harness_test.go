package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// Sizes of the runs. The defaults are the figures of BENCHMARKS.md; smaller
// ones make a quick check of the harness itself.
var (
	largeMiB      = flag.Int("large-mib", 1024, "size of the large file, in MiB")
	smallFiles    = flag.Int("small-files", 10000, "number of small files")
	smallKiB      = flag.Int("small-kib", 2, "size of each small file, in KiB")
	smallParallel = flag.Int("small-parallel", 0, "runs.parallel_files of the small-files job; 0: the config's default")
	idleJobs      = flag.Int("idle-jobs", 500, "jobs configured in the idle daemon")
	idleFor       = flag.Duration("idle", time.Minute, "how long the idle daemon is measured")
)

const (
	mib         = 1 << 20
	peerTimeout = 30 * time.Minute // one OpenSSH sftp batch, at most
)

// server is a real OpenSSH sshd on loopback and the means to reach it both
// ways: exchanged's endpoint config and OpenSSH's own sftp client.
type server struct {
	*sshdtest.Server
	sftpBin string
}

// startServer starts sshd, or skips when it or OpenSSH's sftp client is
// missing (sshdtest fails instead under CI=true).
func startServer(tb testing.TB) *server {
	tb.Helper()
	bin, err := exec.LookPath("sftp")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("bench: OpenSSH sftp client missing (CI=true): %v", err)
		}
		tb.Skipf("bench: OpenSSH sftp client missing: %v", err)
	}
	return &server{Server: sshdtest.Start(tb), sftpBin: bin}
}

// endpoint returns the config of an exchanged SFTP partner on s, its host
// key pinned through the known_hosts file sshdtest wrote.
func (s *server) endpoint(tb testing.TB) config.SFTP {
	tb.Helper()
	key, err := os.ReadFile(s.ClientKeyPath)
	if err != nil {
		tb.Fatal(err)
	}
	return config.SFTP{Host: s.Host, Port: s.Port, User: s.User,
		PrivateKey: config.Secret{Ref: "file:" + s.ClientKeyPath, Value: key},
		KnownHosts: s.KnownHostsPath, Timeout: config.Duration(30 * time.Second)}
}

// peerRun is what one command (an OpenSSH sftp batch, rclone, exchanged)
// cost.
type peerRun struct {
	wall   time.Duration
	cpu    time.Duration // user + system of the process and its waited-for children (sftp's ssh)
	maxRSS int64         // bytes, the largest of the client's processes
	// machine is the CPU time of the whole machine over the run, every
	// CPU's non-idle time in /proc/stat: the client, sshd (which the
	// client's own CPU leaves out), the kernel's write-back threads, and
	// anything else that ran. On n CPUs a run takes at least machine/n.
	machine time.Duration
}

// machineCPU returns the non-idle CPU time of all CPUs since boot, from
// /proc/stat's cpu line (user, nice, system, irq, softirq, steal), or 0
// where it cannot be read.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// sftpBatch runs OpenSSH's sftp client with a batch of commands, as an
// operator would: its default settings, strict host key checking against
// the same known_hosts file, and no user or system ssh config.
func (s *server) sftpBatch(tb testing.TB, lines ...string) peerRun {
	tb.Helper()
	batch := filepath.Join(tb.TempDir(), "batch")
	if err := os.WriteFile(batch, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	args := append([]string{"-q", "-b", batch}, s.sshOpts()...)
	run, _ := timed(tb, nil, false, s.sftpBin, append(args, "-P", strconv.Itoa(s.Port), s.User+"@"+s.Host)...)
	return run
}

// sshOpts are the options every OpenSSH client of the benchmarks runs
// with: no user or system ssh config, the client key only, no prompts, and
// the host key checked against the known_hosts file sshdtest wrote.
func (s *server) sshOpts() []string {
	return []string{"-F", "/dev/null", "-i", s.ClientKeyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + s.KnownHostsPath,
		"-o", "GlobalKnownHostsFile=/dev/null"}
}

// timed runs a command to its end, at most peerTimeout, and returns its
// wall time, CPU and peak RSS (getrusage of the process, its waited-for
// children included) and what it wrote. stdin may be nil; with
// discardStdout its standard output goes to /dev/null. A command that
// fails fails tb, with the end of its output.
func timed(tb testing.TB, stdin *os.File, discardStdout bool, name string, args ...string) (peerRun, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	// The peak RSS comes from GNU time, which forks the command from its
	// own small process: wait4's ru_maxrss of a command that this process
	// starts counts this process's RSS too (Go starts it with vfork, and
	// exec records the high-water mark of the memory it leaves).
	rssFile := ""
	if gnuTime(tb) != "" {
		rssFile = filepath.Join(tb.TempDir(), "maxrss")
		args = append([]string{"-f", "%M", "-o", rssFile, name}, args...)
		name = gnuTime(tb)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	// On the timeout, kill its whole process group (time, the command, its
	// ssh), not time alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if discardStdout {
		cmd.Stdout = nil
	}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	mach0, start := machineCPU(), time.Now()
	err := cmd.Run()
	wall, mach := time.Since(start), machineCPU()-mach0
	if err != nil {
		tb.Fatalf("bench: %s: %v\n%s", filepath.Base(name), err, lastLines(out.String(), 20))
	}
	run := peerRun{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), machine: mach}
	if rssFile != "" {
		b, err := os.ReadFile(rssFile)
		kib, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || perr != nil {
			tb.Fatalf("bench: GNU time's max RSS: %v, %v", err, perr)
		}
		run.maxRSS = kib << 10
	} else if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		run.maxRSS = ru.Maxrss << 10 // KiB on Linux; this process's RSS included
	}
	return run, out.String()
}

var (
	gnuTimeOnce sync.Once
	gnuTimePath string
)

// gnuTime returns the path of GNU time (/usr/bin/time), or "" when it is
// missing (then a peak RSS includes the harness's), except under CI=true,
// where that fails.
func gnuTime(tb testing.TB) string {
	tb.Helper()
	gnuTimeOnce.Do(func() {
		if fi, err := os.Stat("/usr/bin/time"); err == nil && fi.Mode()&0o111 != 0 {
			gnuTimePath = "/usr/bin/time"
		}
	})
	if gnuTimePath == "" && os.Getenv("CI") == "true" {
		tb.Fatal("bench: GNU time (/usr/bin/time) missing (CI=true): install the time package")
	}
	return gnuTimePath
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// writeRandom writes size pseudo-random bytes to path, a chunk at a time.
func writeRandom(tb testing.TB, path string, size int64, seed uint64) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	buf := make([]byte, mib)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		_, _ = rng.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			tb.Fatal(err)
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// fileSum returns the size and hex sha256 of a local file.
func fileSum(tb testing.TB, path string) (int64, string) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, bufio.NewReaderSize(f, mib))
	if err != nil {
		tb.Fatal(err)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}

// quiesce writes back dirty pages left by an earlier transfer, so that
// the next one does not pay for them.
func quiesce() { syscall.Sync() }

// goSide measures this process while it does one transfer: wall time, CPU
// (user + system) and peak memory. The peak RSS is the kernel's high-water
// mark, reset before the transfer (clear_refs 5, Linux 4.0+); the peak heap
// is sampled.
type goSide struct {
	start    time.Time
	cpu0     time.Duration
	resetHWM bool

	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	peakHeap uint64
}

type goRun struct {
	wall     time.Duration
	cpu      time.Duration
	peakRSS  int64  // bytes; the whole process, test binary included
	hwmReset bool   // peakRSS is the peak of this transfer alone
	peakHeap uint64 // bytes, HeapInuse sampled every 20ms
	heapSys  uint64 // bytes, HeapSys at the end
}

func measureGo() *goSide {
	runtime.GC()
	debug.FreeOSMemory()
	m := &goSide{stop: make(chan struct{}), done: make(chan struct{})}
	m.resetHWM = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	m.cpu0 = selfCPU()
	m.start = time.Now()
	go func() {
		defer close(m.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			m.mu.Lock()
			m.peakHeap = max(m.peakHeap, ms.HeapInuse)
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *goSide) end() goRun {
	wall := time.Since(m.start)
	cpu := selfCPU() - m.cpu0
	close(m.stop)
	<-m.done
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.mu.Lock()
	defer m.mu.Unlock()
	return goRun{wall: wall, cpu: cpu, peakRSS: procStatusBytes("self", "VmHWM"), hwmReset: m.resetHWM,
		peakHeap: max(m.peakHeap, ms.HeapInuse), heapSys: ms.HeapSys}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatusBytes reads a "kB" line of /proc/PID/status, in bytes, or -1.
func procStatusBytes(pid, key string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

func mibOf(b int64) float64 { return float64(b) / mib }

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
