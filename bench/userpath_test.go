package bench

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"
)

var (
	rounds      = flag.Int("rounds", 5, "interleaved rounds of BenchmarkUserPath; each tool's median is reported")
	otherBinary = flag.String("other-binary", "", "BenchmarkUserPath: more exchanged binaries (comma-separated; e.g. a build before a change), run beside this build's, each with a state_dir of its own")
)

// ceilingCipher is what the transport ceiling is measured with: the cipher
// exchanged asks for first.
const ceilingCipher = "aes128-gcm@openssh.com"

// BenchmarkUserPath measures what a user sees: the real binary, built from
// ./cmd/exchanged, running `exchanged once --config FILE JOB` against a
// real OpenSSH sshd on loopback, interleaved on the same files with what
// an operator would use instead: OpenSSH's `sftp -b` (default settings,
// and with -f: fsync every file, closer to what exchanged promises),
// `rclone` (copy, or move for the small files) and, for the large file,
// the SSH transport itself (`ssh -c aes128-gcm@openssh.com host cat`).
//
//	pull:  one large file (-large-mib, 1 GiB) from an SFTP creditor to a
//	       local internal partner (after: keep);
//	push:  the same size from a local internal partner to the SFTP
//	       creditor (after: keep);
//	small: many small files (-small-files of -small-kib, 10,000 of 2 KiB)
//	       from one directory on the sshd to another, through one job
//	       (after: delete) against one sftp batch of get, put and rm, and
//	       against rclone move between two remotes on that server.
//
// Each of -rounds rounds runs every tool once, in an order rotated by one
// each round, after sync(2); every run's output is checked (sizes, and
// sha256 in the first round) and removed before the next. Reported per
// tool: the median wall time (and CPU, and peak RSS of the process and its
// children); exchanged against each peer as peer time ÷ exchanged time
// (above 1: exchanged is faster), and the transport ceiling's time as a
// percentage of exchanged's. Run it with -benchtime 1x: every iteration
// runs all the rounds, and their medians are reported together.
func BenchmarkUserPath(b *testing.B) {
	u := newUserPath(b)
	size := int64(*largeMiB) * mib
	runCases(b, []benchCase{
		{fmt.Sprintf("pull-%s", sizeName(size)), func(tb testing.TB) []tool { return u.pull(tb, size) }},
		{fmt.Sprintf("push-%s", sizeName(size)), func(tb testing.TB) []tool { return u.push(tb, size) }},
		{fmt.Sprintf("small-%dx%dKiB", *smallFiles, *smallKiB), func(tb testing.TB) []tool {
			return u.small(tb, *smallFiles, *smallKiB<<10)
		}},
	}, nil)
}

// benchCase is one case of a benchmark: its name and its tools.
type benchCase struct {
	name  string
	tools func(testing.TB) []tool
}

// runCases runs each case as a sub-benchmark, each iteration -rounds
// interleaved rounds, and logs and reports its summary, followed by what
// more (if not nil) makes of the runs.
func runCases(b *testing.B, cases []benchCase, more func([]tool, map[string][]peerRun) (string, []metric)) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tools := c.tools(b)
			res := map[string][]peerRun{}
			load0 := loadAverage()
			for range b.N {
				interleave(b, *rounds, tools, res)
			}
			table, metrics := summarize(tools, res)
			if more != nil {
				text, ms := more(tools, res)
				table, metrics = table+text, append(metrics, ms...)
			}
			msg := fmt.Sprintf("%s, %d rounds, medians; %d CPUs, load average before %s, after %s:\n%s",
				c.name, len(res[tools[0].name]), runtime.NumCPU(), load0, loadAverage(), table)
			b.Log(msg)
			if strings.Count(msg, "\n") >= 10 { // go test keeps 10 lines of a benchmark's log
				fmt.Printf("--- %s, in full: %s\n", b.Name(), msg)
			}
			for _, m := range metrics {
				b.ReportMetric(m.value, m.unit)
			}
		})
	}
}

// tool is one way to make a case's transfer.
type tool struct {
	name  string                         // as in the table
	key   string                         // in metric names
	prep  func(tb testing.TB, round int) // untimed: put the inputs in place
	run   func(tb testing.TB) peerRun    // the timed transfer
	check func(tb testing.TB, round int) // untimed: assert what arrived, then clear it away
}

// The tools' keys that summarize compares.
const (
	keyExchanged = "exchanged"
	keyCeiling   = "ssh-cat"
)

// userPath is what the cases share: the sshd, the binary, its config, and
// rclone's.
type userPath struct {
	s          *server
	bin        string
	work       string // the local side
	state      string // exchanged's state_dir
	conf       string // exchanged's config
	rclone     string // rclone's path; "" when it is left out
	rcloneConf string
	others     []prevBuild // -other-binary
}

// newUserPath starts sshd, builds the binary and writes both configs.
// Without rclone the rclone runs are left out, except under CI=true, where
// that fails.
func newUserPath(tb testing.TB) *userPath {
	tb.Helper()
	u := &userPath{s: startServer(tb), work: tb.TempDir()}
	u.state = filepath.Join(u.work, "state")
	u.bin = buildExchanged(tb, u.work)
	if p, err := exec.LookPath("rclone"); err == nil {
		u.rclone = p
	} else if os.Getenv("CI") == "true" {
		tb.Fatalf("bench: rclone missing (CI=true): %v", err)
	} else {
		tb.Logf("bench: rclone missing, left out: %v", err)
	}
	for _, d := range []string{"cases/inbox", "cases/outbox", "local", "state"} {
		mkdir(tb, filepath.Join(u.work, d))
	}
	for _, d := range []string{"pull", "push", "outbox", "inbox"} {
		mkdir(tb, filepath.Join(u.s.Root, d))
	}
	u.conf = filepath.Join(u.work, "exchanged.yaml")
	write(tb, u.conf, u.config())
	u.rcloneConf = filepath.Join(u.work, "rclone.conf")
	write(tb, u.rcloneConf, u.rcloneConfig(tb))
	for i, bin := range strings.FieldsFunc(*otherBinary, func(r rune) bool { return r == ',' }) {
		o := *u
		o.state = filepath.Join(u.work, fmt.Sprintf("state-other-%d", i+1))
		mkdir(tb, o.state)
		pb := prevBuild{bin: bin, conf: filepath.Join(u.work, fmt.Sprintf("exchanged-other-%d.yaml", i+1)),
			name: "exchanged: " + filepath.Base(bin), key: fmt.Sprintf("other-%d", i+1)}
		write(tb, pb.conf, o.config())
		u.others = append(u.others, pb)
	}
	return u
}

// withOthers returns tools with a run of job by each -other-binary build
// after tools[0], this build's, with its prep and check.
func (u *userPath) withOthers(tools []tool, job string) []tool {
	out := []tool{tools[0]}
	for _, o := range u.others {
		out = append(out, tool{name: o.name, key: o.key, prep: tools[0].prep, check: tools[0].check,
			run: func(tb testing.TB) peerRun { return onceWith(tb, o.bin, o.conf, job) }})
	}
	return append(out, tools[1:]...)
}

// config is exchanged's config: the creditor acme and the internal
// archive are the sshd, cases is local; the state in u.state. Settle is
// 1ms: the wait is not speed, the second listing it makes is counted.
// jobs are appended to the three of BenchmarkUserPath.
func (u *userPath) config(jobs ...jobSpec) string {
	s := u.s
	sftp := fmt.Sprintf("{host: %s, port: %d, user: %s, private_key: \"file:%s\", known_hosts: %s}",
		s.Host, s.Port, s.User, s.ClientKeyPath, s.KnownHostsPath)
	conf := fmt.Sprintf("version: 1\nstate_dir: %s\nhttp: {listen: \"\"}\npartners:\n"+
		"  acme: {role: creditor, sftp: %s}\n  archive: {role: internal, sftp: %s}\n"+
		"  cases: {role: internal, local: {root: %s}}\njobs:\n",
		u.state, sftp, sftp, filepath.Join(u.work, "cases"))
	for _, j := range append([]jobSpec{
		{name: "pull", from: "acme", dir: filepath.Join(s.Root, "pull"), after: "keep", to: "cases", dest: "/inbox"},
		{name: "push", from: "cases", dir: "/outbox", after: "keep", to: "acme", dest: filepath.Join(s.Root, "push")},
		{name: "small", from: "acme", dir: filepath.Join(s.Root, "outbox"), after: "delete", to: "archive", dest: filepath.Join(s.Root, "inbox")},
	}, jobs...) {
		conf += j.yaml()
	}
	return conf
}

// jobSpec is one job of the config: from one partner's dir to another's,
// its source matching match ("*.csv" when empty); srcExtra and dstExtra
// are appended to the source and destination mappings (", pgp: {...}").
type jobSpec struct {
	name, from, dir, match, after, srcExtra, to, dest, dstExtra string
}

func (j jobSpec) yaml() string {
	return fmt.Sprintf("  %s:\n    schedule: \"@yearly\"\n"+
		"    source: {partner: %s, dir: %s, match: \"%s\", settle: 1ms, after: %s%s}\n"+
		"    destinations:\n      - {partner: %s, dir: %s%s}\n",
		j.name, j.from, j.dir, cmp.Or(j.match, "*.csv"), j.after, j.srcExtra, j.to, j.dest, j.dstExtra)
}

// rcloneConfig has the same two SFTP partners as remotes, the host key
// checked against a known_hosts file of the server's every key: rclone
// 1.60 cannot be told which host key type to ask for, and takes the
// server's first choice, not the Ed25519 key sshdtest's known_hosts
// holds. Two remotes, so that a move
// between them is a download and an upload (within one remote rclone
// would rename on the server). shell_type none: a partner's server serves
// SFTP only, so rclone runs no commands there (and checks no hashes).
func (u *userPath) rcloneConfig(tb testing.TB) string {
	tb.Helper()
	var kh strings.Builder
	addr := knownhosts.Normalize(u.s.Addr)
	for _, k := range u.s.HostKeys {
		kh.WriteString(knownhosts.Line([]string{addr}, k.PublicKey) + "\n")
	}
	khPath := filepath.Join(u.work, "rclone_known_hosts")
	write(tb, khPath, kh.String())
	var b strings.Builder
	for _, name := range []string{"acme", "archive"} {
		fmt.Fprintf(&b, "[%s]\ntype = sftp\nhost = %s\nport = %d\nuser = %s\nkey_file = %s\nknown_hosts_file = %s\nshell_type = none\n\n",
			name, u.s.Host, u.s.Port, u.s.User, u.s.ClientKeyPath, khPath)
	}
	return b.String()
}

// once runs `exchanged once` for job.
func (u *userPath) once(tb testing.TB, job string) peerRun {
	tb.Helper()
	return onceWith(tb, u.bin, u.conf, job)
}

// onceWith runs `bin once --config conf job`.
func onceWith(tb testing.TB, bin, conf, job string) peerRun {
	tb.Helper()
	run, _ := timed(tb, nil, false, bin, "once", "--config", conf, job)
	return run
}

func (u *userPath) rcloneRun(tb testing.TB, args ...string) peerRun {
	tb.Helper()
	run, _ := timed(tb, nil, false, u.rclone, append([]string{"--config", u.rcloneConf, "-q"}, args...)...)
	return run
}

// ssh runs a command on the sshd over the ceiling's cipher.
func (u *userPath) ssh(tb testing.TB, stdin *os.File, command string) peerRun {
	tb.Helper()
	args := append(u.s.sshOpts(), "-c", ceilingCipher, "-p", strconv.Itoa(u.s.Port), u.s.User+"@"+u.s.Host, command)
	run, _ := timed(tb, stdin, true, "ssh", args...)
	return run
}

// peers returns sftp -b, sftp -b with -f, and rclone when it is there,
// with run functions made by sftp (given "" or "-f ") and rclone.
func (u *userPath) peers(sftp func(fsync string) func(testing.TB) peerRun, rclone func(testing.TB) peerRun) []tool {
	t := []tool{
		{name: "sftp -b", key: "sftp", run: sftp("")},
		{name: "sftp -b (-f)", key: "sftp-f", run: sftp("-f ")},
	}
	if u.rclone != "" {
		t = append(t, tool{name: "rclone", key: "rclone", run: rclone})
	}
	return t
}

// touch gives a source file a new mtime for each round, so that exchanged
// takes it again (the ledger knows a file by name, size and mtime).
func touch(tb testing.TB, path string, round int) {
	tb.Helper()
	t := time.Now().Add(-time.Hour).Truncate(time.Second).Add(time.Duration(round) * time.Second)
	if err := os.Chtimes(path, t, t); err != nil {
		tb.Fatal(err)
	}
}

// pull: a file of size bytes from the SFTP creditor to a local dir.
func (u *userPath) pull(tb testing.TB, size int64) []tool {
	tb.Helper()
	const name = "claims_large.csv"
	src := filepath.Join(u.s.Root, "pull", name)
	writeRandom(tb, src, size, 1)
	_, want := fileSum(tb, src)
	local := filepath.Join(u.work, "local")
	arrived := func(dir string) func(testing.TB, int) {
		return func(tb testing.TB, round int) {
			checkTree(tb, dir, 1, int(size))
			checkFile(tb, filepath.Join(dir, name), size, map[bool]string{true: want}[round == 0])
			cleanDirs(tb, filepath.Join(dir, name))
		}
	}
	tools := []tool{{name: "exchanged once", key: keyExchanged,
		prep:  func(tb testing.TB, round int) { touch(tb, src, round) },
		run:   func(tb testing.TB) peerRun { return u.once(tb, "pull") },
		check: arrived(filepath.Join(u.work, "cases", "inbox"))}}
	for _, p := range u.peers(func(fsync string) func(testing.TB) peerRun {
		return func(tb testing.TB) peerRun { return u.s.sftpBatch(tb, "get "+fsync+src+" "+local+"/") }
	}, func(tb testing.TB) peerRun { return u.rcloneRun(tb, "copy", "acme:"+filepath.Dir(src), local) }) {
		p.check = arrived(local)
		tools = append(tools, p)
	}
	return append(u.withOthers(tools, "pull"), tool{name: "ssh cat (ceiling)", key: keyCeiling,
		run: func(tb testing.TB) peerRun { return u.ssh(tb, nil, "cat "+src) }})
}

// push: a file of size bytes from a local dir to the SFTP creditor.
func (u *userPath) push(tb testing.TB, size int64) []tool {
	tb.Helper()
	const name = "claims_large.csv"
	src := filepath.Join(u.work, "cases", "outbox", name)
	writeRandom(tb, src, size, 2)
	_, want := fileSum(tb, src)
	dst := filepath.Join(u.s.Root, "push")
	arrived := func(tb testing.TB, round int) {
		checkTree(tb, dst, 1, int(size))
		checkFile(tb, filepath.Join(dst, name), size, map[bool]string{true: want}[round == 0])
		cleanDirs(tb, filepath.Join(dst, name))
	}
	tools := []tool{{name: "exchanged once", key: keyExchanged,
		prep: func(tb testing.TB, round int) { touch(tb, src, round) },
		run:  func(tb testing.TB) peerRun { return u.once(tb, "push") }}}
	tools = append(tools, u.peers(func(fsync string) func(testing.TB) peerRun {
		return func(tb testing.TB) peerRun { return u.s.sftpBatch(tb, "put "+fsync+src+" "+dst+"/") }
	}, func(tb testing.TB) peerRun { return u.rcloneRun(tb, "copy", filepath.Dir(src), "acme:"+dst) })...)
	for i := range tools {
		tools[i].check = arrived
	}
	return append(u.withOthers(tools, "push"), tool{name: "ssh cat (ceiling)", key: keyCeiling,
		run: func(tb testing.TB) peerRun {
			f, err := os.Open(src)
			if err != nil {
				tb.Fatal(err)
			}
			defer f.Close()
			return u.ssh(tb, f, "cat > /dev/null")
		}})
}

// small: n files of size bytes from one dir on the sshd to another; the
// source files are removed.
func (u *userPath) small(tb testing.TB, n, size int) []tool {
	tb.Helper()
	src, dst := filepath.Join(u.s.Root, "outbox"), filepath.Join(u.s.Root, "inbox")
	local := filepath.Join(u.work, "local")
	prep := func(tb testing.TB, _ int) {
		makeSmall(tb, src, n, size)
		mkdir(tb, dst)
		mkdir(tb, local)
	}
	check := func(tb testing.TB, _ int) {
		checkTree(tb, dst, n, size)
		if left := countFiles(tb, src); left != 0 {
			tb.Fatalf("%d files left at the source", left)
		}
		cleanDirs(tb, dst, local)
	}
	tools := []tool{{name: "exchanged once", key: keyExchanged,
		run: func(tb testing.TB) peerRun { return u.once(tb, "small") }}}
	tools = append(tools, u.peers(func(fsync string) func(testing.TB) peerRun {
		return func(tb testing.TB) peerRun {
			return u.s.sftpBatch(tb, "get "+fsync+src+"/*.csv "+local+"/", "put "+fsync+local+"/*.csv "+dst+"/", "rm "+src+"/*.csv")
		}
	}, func(tb testing.TB) peerRun { return u.rcloneRun(tb, "move", "acme:"+src, "archive:"+dst) })...)
	for i := range tools {
		tools[i].prep, tools[i].check = prep, check
	}
	return u.withOthers(tools, "small")
}

// interleave runs every tool once a round, for rounds rounds, starting
// each round one tool further along, and appends each run to res.
func interleave(tb testing.TB, rounds int, tools []tool, res map[string][]peerRun) {
	tb.Helper()
	for r := range rounds {
		for i := range tools {
			t := tools[(r+i)%len(tools)]
			if t.prep != nil {
				t.prep(tb, r)
			}
			quiesce()
			run := t.run(tb)
			if t.check != nil {
				t.check(tb, r)
			}
			res[t.name] = append(res[t.name], run)
		}
	}
}

type metric struct {
	value float64
	unit  string
}

// summarize makes the table of a case's runs and its metrics: each tool's
// median seconds, exchanged against each peer (peer ÷ exchanged: above 1,
// exchanged is faster), the ceiling as a percentage of exchanged, and
// exchanged's peak RSS over all runs.
func summarize(tools []tool, res map[string][]peerRun) (string, []metric) {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "tool\tmedian\tmin\tmax\tCPU (median)\tmachine CPU\tpeak RSS\texchanged vs this")
	var ours time.Duration
	for _, t := range tools {
		if t.key == keyExchanged {
			ours = median(res[t.name], func(r peerRun) time.Duration { return r.wall })
		}
	}
	var ms []metric
	for _, t := range tools {
		runs := res[t.name]
		wall := median(runs, func(r peerRun) time.Duration { return r.wall })
		cpu := median(runs, func(r peerRun) time.Duration { return r.cpu })
		mach := median(runs, func(r peerRun) time.Duration { return r.machine })
		lo, hi, rss := runs[0].wall, runs[0].wall, int64(0)
		for _, r := range runs {
			lo, hi, rss = min(lo, r.wall), max(hi, r.wall), max(rss, r.maxRSS)
		}
		vs := ""
		switch t.key {
		case keyExchanged:
			ms = append(ms, metric{mibOf(rss), "peak-RSS-MiB"})
		case keyCeiling:
			vs = fmt.Sprintf("%.0f%% of the ceiling", 100*wall.Seconds()/ours.Seconds())
			ms = append(ms, metric{100 * wall.Seconds() / ours.Seconds(), "%-of-ceiling"})
		default:
			vs = fmt.Sprintf("%.2fx", wall.Seconds()/ours.Seconds())
			ms = append(ms, metric{wall.Seconds() / ours.Seconds(), "x-" + t.key})
		}
		ms = append(ms, metric{wall.Seconds(), t.key + "-s"})
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f MiB\t%s\n", t.name, fmtDur(wall), fmtDur(lo), fmtDur(hi), fmtDur(cpu), fmtDur(mach), mibOf(rss), vs)
	}
	w.Flush()
	return sb.String(), ms
}

// median returns the median of f over runs (the mean of the middle two for
// an even count).
func median(runs []peerRun, f func(peerRun) time.Duration) time.Duration {
	v := make([]time.Duration, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// loadAverage returns the 1, 5 and 15 minute load averages, as
// /proc/loadavg has them: on a shared machine they say how far to trust a
// run.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func sizeName(b int64) string {
	if b >= 1<<30 && b%(1<<30) == 0 {
		return fmt.Sprintf("%dGiB", b>>30)
	}
	return fmt.Sprintf("%dMiB", b>>20)
}

func write(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}
