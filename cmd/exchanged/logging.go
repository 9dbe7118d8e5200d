package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"

	"github.com/exchanged/exchanged/config"
)

// journaldPool holds the buffers of prefixed log lines.
var journaldPool = buffer.NewPool()

// journaldEncoder puts the syslog priority of each entry before its line,
// as "<N>" (sd-daemon(3)), so that journald, reading the process's stderr,
// stores the line with PRIORITY=N and `journalctl -p err` finds errors.
// The rest of the line is the wrapped encoder's (JSON or console), which
// journald stores as MESSAGE. A line break inside an entry (a console
// stack trace) starts a new journal entry, so each line gets the prefix.
type journaldEncoder struct {
	zapcore.Encoder
}

var _ zapcore.Encoder = journaldEncoder{}

// Clone keeps the wrapper around the clone: zap clones the encoder for
// With(fields).
func (e journaldEncoder) Clone() zapcore.Encoder {
	return journaldEncoder{e.Encoder.Clone()}
}

// EncodeEntry encodes ent with the wrapped encoder and prefixes each of
// its lines with the entry's priority.
func (e journaldEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	line, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	defer line.Free()
	out := journaldPool.Get()
	appendPrefixed(out, ent.Level, line.Bytes())
	return out, nil
}

// appendPrefixed appends b to out with the journald priority of level
// before each of its lines.
func appendPrefixed(out *buffer.Buffer, level zapcore.Level, b []byte) {
	prefix := "<" + strconv.Itoa(journaldPriority(level)) + ">"
	for len(b) > 0 {
		n := len(b)
		if i := slices.Index(b, '\n'); i >= 0 {
			n = i + 1
		}
		out.AppendString(prefix)
		_, _ = out.Write(b[:n])
		b = b[n:]
	}
}

// journaldPriority maps a zap level to its syslog priority (sd-daemon(3):
// SD_ERR is 3, SD_WARNING 4, SD_INFO 6, SD_DEBUG 7; SD_CRIT 2 for the
// levels that panic or exit). DPanic is an error: it panics only in
// development, and the daemon's loggers are production ones.
func journaldPriority(l zapcore.Level) int {
	switch {
	case l <= zapcore.DebugLevel:
		return 7
	case l == zapcore.InfoLevel:
		return 6
	case l == zapcore.WarnLevel:
		return 4
	case l == zapcore.ErrorLevel, l == zapcore.DPanicLevel:
		return 3
	default: // panic, fatal
		return 2
	}
}

// isJournalStream reports whether w is the stream journald reads: systemd
// sets JOURNAL_STREAM to "DEV:INODE" (decimal) of the service's stdout or
// stderr when it connects them to the journal, and a process compares it
// with fstat(2) of its own stream, as sd_journal_stream_fd's users do. A
// process whose stderr was redirected elsewhere inherits the variable but
// fails the comparison.
func isJournalStream(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	wantDev, err1 := strconv.ParseUint(dev, 10, 64)
	wantIno, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == wantDev && uint64(st.Ino) == wantIno
}

// logFlags are --log-level and --log-format, which override the config's
// log: section for one invocation.
type logFlags struct {
	level, format string
}

// register adds the flags to fs.
func (lf *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&lf.level, "log-level", "", "log level, overriding log.level: "+strings.Join(config.LogLevels, " | "))
	fs.StringVar(&lf.format, "log-format", "", "log format, overriding log.format: "+strings.Join(config.LogFormats, " | "))
}

// check refuses a value the config would refuse, as a usage error.
func (lf *logFlags) check() error {
	if lf.level != "" && !slices.Contains(config.LogLevels, lf.level) {
		return fmt.Errorf("%w: --log-level must be %s, not %q", errUsage, strings.Join(config.LogLevels, ", "), lf.level)
	}
	if lf.format != "" && !slices.Contains(config.LogFormats, lf.format) {
		return fmt.Errorf("%w: --log-format must be %s, not %q", errUsage, strings.Join(config.LogFormats, ", "), lf.format)
	}
	return nil
}

// apply sets the flags that were given on cfg's log: section.
func (lf *logFlags) apply(cfg *config.Config) {
	if lf.level != "" {
		cfg.Log.Level = lf.level
	}
	if lf.format != "" {
		cfg.Log.Format = lf.format
	}
}
