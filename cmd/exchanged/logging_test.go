package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/exchanged/exchanged/config"
)

// logJobs are two jobs for the logging tests: claims-in runs fine on an
// empty outbox (info lines), broken lists a directory that is not there
// (error lines, and a debug "job failed" from once).
const logJobs = claimsInJob + `  broken:
    schedule: "@yearly"
    source: {partner: acme, dir: /nowhere, match: "*.csv", done_marker: ".done"}
    destinations:
      - {partner: cases, dir: /inbox}
`

// logConfig writes a config of logJobs with the given log: section.
func logConfig(t *testing.T, level, format string) string {
	t.Helper()
	work := t.TempDir()
	cfg, _ := localConfig(t, work, logJobs)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("log: {level: debug, format: json}"),
		[]byte(fmt.Sprintf("log: {level: %s, format: %s}", level, format)), 1)
	writeFile(t, cfg, b)
	return cfg
}

// exchangedStderrFile runs the binary with its stderr on a file, as
// systemd gives it a stream, and returns the exit code and what it wrote
// there. journal, when true, sets JOURNAL_STREAM to that file's device and
// inode; with wrongInode, to an inode one off.
func exchangedStderrFile(t *testing.T, journal, wrongInode bool, args ...string) (int, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = os.Environ()
	if journal {
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		ino := uint64(st.Ino)
		if wrongInode {
			ino++
		}
		cmd.Env = append(cmd.Env, fmt.Sprintf("JOURNAL_STREAM=%d:%d", uint64(st.Dev), ino))
	} else {
		cmd.Env = append(cmd.Env, "JOURNAL_STREAM=")
	}
	cmd.Stderr = f
	_ = cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("exchanged %v did not run", args)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(b)
}

var priorityRE = regexp.MustCompile(`^<([0-7])>(.*)$`)

// journalLines checks that every line of stderr carries a journald
// priority and that each JSON log line's level maps to its priority, and
// returns the messages seen at each priority.
func journalLines(t *testing.T, stderr string) map[string][]string {
	t.Helper()
	want := map[string]string{"debug": "7", "info": "6", "warn": "4", "error": "3"}
	seen := map[string][]string{}
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		m := priorityRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line without a journald priority: %q", line)
			continue
		}
		var e struct{ Level, Msg string }
		if strings.HasPrefix(m[2], "exchanged: ") {
			e.Msg = "exchanged:"
		} else if err := json.Unmarshal([]byte(m[2]), &e); err != nil {
			t.Errorf("not JSON after the priority: %q", line)
			continue
		} else if want[e.Level] != m[1] {
			t.Errorf("level %q at priority %s: %q", e.Level, m[1], line)
		}
		seen[m[1]] = append(seen[m[1]], e.Msg)
	}
	return seen
}

// On a stderr journald reads (JOURNAL_STREAM names it), every line starts
// with its priority: <3> before errors, <6> before info, <7> before debug,
// and the command's own last word is an error too. The same variable
// naming another stream (stderr redirected by hand) changes nothing.
func TestLogJournalStream(t *testing.T) {
	cfg := logConfig(t, "debug", "json")
	code, stderr := exchangedStderrFile(t, true, false, "once", "--config", cfg, "claims-in", "broken")
	if code != exitFailed {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	seen := journalLines(t, stderr)
	for prio, msg := range map[string]string{"3": "list failed", "6": "run finished", "7": "job failed"} {
		if !strings.Contains(strings.Join(seen[prio], "|"), msg) {
			t.Errorf("no %q at <%s>: %v\n%s", msg, prio, seen, stderr)
		}
	}
	if !strings.Contains(stderr, "\n<3>exchanged: 1 of 2 job(s) failed") {
		t.Errorf("the command's error is not at <3>:\n%s", stderr)
	}

	code, stderr = exchangedStderrFile(t, true, true, "once", "--config", cfg, "claims-in", "broken")
	if code != exitFailed || strings.Contains(stderr, "<") || !strings.HasPrefix(stderr, `{"level":`) {
		t.Fatalf("JOURNAL_STREAM of another stream: exit %d:\n%s", code, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(line, "{") && !strings.HasPrefix(line, "exchanged: ") {
			t.Errorf("unexpected line %q", line)
		}
	}
}

// log.format: journald prefixes every line on any stderr; --log-format
// and --log-level override the config's log: for one invocation.
func TestLogFormatAndFlags(t *testing.T) {
	cfg := logConfig(t, "info", "journald")
	r := exchanged(t, []string{"JOURNAL_STREAM="}, "once", "--config", cfg, "claims-in", "broken")
	if r.code != exitFailed {
		t.Fatalf("journald format: %+v", r)
	}
	seen := journalLines(t, strings.Replace(r.stderr, "exchanged: ", "<3>exchanged: ", 1))
	if len(seen["3"]) < 2 || len(seen["6"]) == 0 || len(seen["7"]) != 0 {
		t.Errorf("journald format at info: %v\n%s", seen, r.stderr)
	}

	// The flags win over the config: console at debug.
	r = exchanged(t, []string{"JOURNAL_STREAM="}, "once", "--log-level", "debug", "--log-format", "console", "--config", cfg, "claims-in", "broken")
	if r.code != exitFailed || strings.Contains(r.stderr, "<") || strings.Contains(r.stderr, `{"level"`) ||
		!strings.Contains(r.stderr, "\tDEBUG\tjob failed\t") || !strings.Contains(r.stderr, "\tERROR\tlist failed\t") {
		t.Fatalf("console at debug by flags: %+v", r)
	}
	// --log-level error drops the info lines; --log-format json the prefixes.
	r = exchanged(t, []string{"JOURNAL_STREAM="}, "once", "--config", cfg, "--log-level", "error", "--log-format", "json", "claims-in", "broken")
	if r.code != exitFailed || strings.Contains(r.stderr, "<") || strings.Contains(r.stderr, `"level":"info"`) ||
		!strings.Contains(r.stderr, `{"level":"error"`) {
		t.Fatalf("json at error by flags: %+v", r)
	}
	// --log-format journald on a json config.
	cfg = logConfig(t, "info", "json")
	r = exchanged(t, []string{"JOURNAL_STREAM="}, "once", "--config", cfg, "--log-format", "journald", "claims-in")
	if r.code != exitOK || !strings.HasPrefix(r.stderr, `<6>{"level":"info"`) {
		t.Fatalf("journald by flag: %+v", r)
	}
}

// A log level or format that is not one of the known values is a usage
// error (exit 2) naming the flag and the values it takes, before anything
// runs; in the config it is a config error naming the key.
func TestLogFlagsRefuseBadValues(t *testing.T) {
	cfg := logConfig(t, "info", "json")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"once", "--log-level", "verbose", "--config", cfg, "claims-in"}, `--log-level must be debug, info, warn, error, not "verbose"`},
		{[]string{"once", "--log-level", "INFO", "--config", cfg, "claims-in"}, `--log-level must be debug, info, warn, error, not "INFO"`},
		{[]string{"run", "--log-format", "text", "--config", cfg}, `--log-format must be json, console, journald, not "text"`},
		{[]string{"purge", "--log-format", "syslog", "--config", cfg}, `--log-format must be json, console, journald, not "syslog"`},
		{[]string{"demo", "--log-level", "trace"}, `--log-level must be debug, info, warn, error, not "trace"`},
	} {
		r := exchanged(t, nil, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "usage: exchanged") {
			t.Errorf("%v: %+v", c.args, r)
		}
	}
	bad := logConfig(t, "info", "text")
	r := exchanged(t, nil, "once", "--config", bad, "claims-in")
	if r.code != exitUsage || !strings.Contains(r.stderr, `log.format: must be json, console or journald, not "text"`) {
		t.Errorf("log.format text in the config: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "state")); err == nil {
		t.Error("a refused invocation made state_dir")
	}
}

// A daemon started with --log-level keeps it across SIGHUP: the reloaded
// config is read with the same override, so the reload is not refused as
// a change of log.level.
func TestDaemonReloadKeepsLogFlags(t *testing.T) {
	work := t.TempDir()
	cfg, addr := localConfig(t, work, claimsInJob) // log.level debug
	p := startDaemon(t, cfg, addr, "--log-level", "info")
	p.signal(syscall.SIGHUP)
	if e := p.waitEvents(1, "config reloaded", nil)[0]; e["outcome"] != "reloaded" {
		t.Fatalf("reload event = %v", e)
	}
	if ev := p.events("config reload failed"); len(ev) != 0 {
		t.Fatalf("reload refused: %v", ev)
	}
	if strings.Contains(p.log(), `"level":"debug"`) {
		t.Errorf("debug lines at --log-level info:\n%s", p.log())
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// The journald encoder prefixes each line of an entry, keeps the prefix on
// loggers made by With, and maps every zap level to its sd-daemon(3)
// priority.
func TestJournaldEncoder(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(config.Log{Level: "debug", Format: "console"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	// A bytes.Buffer is not journald's stream: plain console lines.
	log.Info("plain")
	if strings.HasPrefix(buf.String(), "<") {
		t.Fatalf("console on a buffer has a prefix: %q", buf.String())
	}
	buf.Reset()
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = ""
	enc := journaldEncoder{zapcore.NewConsoleEncoder(ec)}
	log = zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel)).With(zap.String("job", "j"))
	log.Error("two\nlines", zap.Stack("stack"))
	log.Warn("w")
	log.Debug("d")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) < 4 {
		t.Fatalf("want a multi-line entry and two more: %q", buf.String())
	}
	for i, l := range lines[:len(lines)-2] {
		if !strings.HasPrefix(l, "<3>") {
			t.Errorf("line %d of the error entry: %q", i, l)
		}
	}
	if !strings.HasPrefix(lines[len(lines)-2], "<4>warn\tw\t") || !strings.HasPrefix(lines[len(lines)-1], "<7>debug\td\t") ||
		!strings.Contains(lines[len(lines)-1], `"job": "j"`) {
		t.Errorf("warn and debug lines: %q", lines[len(lines)-2:])
	}
	for l, want := range map[zapcore.Level]int{zapcore.DebugLevel: 7, zapcore.InfoLevel: 6, zapcore.WarnLevel: 4,
		zapcore.ErrorLevel: 3, zapcore.DPanicLevel: 3, zapcore.PanicLevel: 2, zapcore.FatalLevel: 2} {
		if got := journaldPriority(l); got != want {
			t.Errorf("priority of %s = %d, want %d", l, got, want)
		}
	}
}

// exchanged --help and help print the usage to stdout and exit 0.
func TestHelpExitsZero(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		r := exchanged(t, nil, arg)
		if r.code != exitOK || !strings.Contains(r.stdout, "usage: exchanged") || r.stderr != "" {
			t.Errorf("exchanged %s: %+v", arg, r)
		}
	}
}

// printErr on journald's stream puts <3> before every line of the error,
// as a config's problems come one a line; elsewhere it adds none.
func TestPrintErrPrefixesEveryLine(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", uint64(st.Dev), uint64(st.Ino)))
	e := errors.Join(errors.New("config: jobs.a.schedule: bad"), errors.New("jobs.b.source.partner: no partner \"x\""),
		errors.New("http.listen: bad"))
	printErr(f, e)
	printErr(io.Discard, e) // not a file: no prefix, and no panic
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	want := "<3>exchanged: config: jobs.a.schedule: bad\n<3>jobs.b.source.partner: no partner \"x\"\n<3>http.listen: bad\n"
	if string(b) != want {
		t.Errorf("on the journal stream:\n%s\nwant:\n%s", b, want)
	}
	var plain strings.Builder
	printErr(&plain, e)
	if got := plain.String(); got != strings.ReplaceAll(want, "<3>", "") {
		t.Errorf("elsewhere: %q", got)
	}
}
