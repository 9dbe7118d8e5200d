// Command exchanged is the data-exchange daemon of a debt-collection
// agency: it pulls creditor files from SFTP endpoints and pushes payment,
// status and handover files to creditors, bailiffs and lawyers, validated,
// minimized and on record. Run "exchanged help" for its commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap/zapcore"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a run failed, or a file did
	exitUsage  = 2 // bad arguments or config
)

// errUsage marks an error in how the command was called.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signalContext()
	defer stop()
	done := profile()
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	done()
	os.Exit(code)
}

// profile starts what the cpuprofile build tag adds (cpuprofile.go) and
// returns how to stop it; in a release build, nothing.
var profile = func() (stop func()) { return func() {} }

// signalContext returns a context cancelled by the first SIGINT or SIGTERM.
// A second signal exits at once: the ledger keeps what was recorded safe.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ch
		cancel()
		<-ch
		fmt.Fprintln(os.Stderr, "exchanged: second signal, exiting now")
		os.Exit(exitFailed)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// Main runs the command line args and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		err = (&RunCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "once":
		err = (&OnceCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "config":
		if len(rest) == 0 || rest[0] != "validate" {
			err = fmt.Errorf("%w: exchanged config validate --config FILE", errUsage)
			break
		}
		err = (&ValidateCommand{stdout: stdout}).Run(ctx, rest[1:])
	case "check":
		err = (&CheckCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "register":
		err = (&RegisterCommand{stdout: stdout}).Run(ctx, rest)
	case "demo":
		err = (&DemoCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "subject":
		err = (&SubjectCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "breach":
		err = (&BreachCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "purge":
		err = (&PurgeCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "audit":
		err = (&AuditCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "health":
		err = (&HealthCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "files":
		err = (&FilesCommand{stdout: stdout, stderr: stderr}).Run(ctx, rest)
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(stdout, "exchanged", version)
		return exitOK
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitUsage
	case errors.Is(err, errUsage):
		printErr(stderr, err)
		usage(stderr)
		return exitUsage
	case errors.Is(err, errConfig):
		printErr(stderr, err)
		return exitUsage
	default:
		printErr(stderr, err)
		return exitFailed
	}
}

// printErr writes the error a command ended with, at journald's error
// priority ("<3>") where stderr is the journal's stream, so that
// `journalctl -p err` shows why a service failed to start. Each line gets
// the prefix: a config's problems are one a line, and a line without one
// is a journal entry at the default priority.
func printErr(stderr io.Writer, err error) {
	msg := fmt.Sprintln("exchanged:", err)
	if !isJournalStream(stderr) {
		fmt.Fprint(stderr, msg)
		return
	}
	out := journaldPool.Get()
	defer out.Free()
	appendPrefixed(out, zapcore.ErrorLevel, []byte(msg))
	_, _ = stderr.Write(out.Bytes())
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: exchanged <command> [flags]

commands:
  run --config FILE [--drain 1m]     run every job on its schedule until SIGTERM; SIGHUP reloads
  once --config FILE JOB...          run the named jobs now, once; non-zero exit if a file failed
                                     (run, once, purge, demo: --log-level debug|info|warn|error
                                     and --log-format json|console|journald override log:)
  config validate --config FILE [--connect]
                                     check a config file, its secrets and keys, touching no
                                     endpoint (exit 2 if bad); --connect also dials every partner
                                     and checks each job's directories, moving nothing (exit 1)
  check [--config FILE] --layout NAME FILE.csv
                                     validate one CSV offline: its reject report to stdout, a
                                     summary to stderr; reads only the config's layouts
  subject --config FILE --creditor C --debtor D [--json]
                                     every disclosure of one debtor: partner, contact, job, file,
                                     time, fields, confirmed or only sent (AVG art. 15, 19)
  subject --config FILE [--creditor C] --case REF [--json]
                                     the same, for the subjects of one of the agency's cases
                                     (case_ref); the reference is never stored or printed
  breach --config FILE --partner P [--file F] [--since T] [--until T] [--json]
                                     what the files a partner received held, as counts and
                                     categories only (AVG art. 33)
  register --config FILE [--json]    print the register of processing (AVG art. 30) the config
                                     describes: purposes, data, recipients, transfers, measures
  demo                               a self-contained tour on loopback, no setup needed
  purge --config FILE [--dry-run] [--json]
                                     remove from the ledger what retention: no longer keeps
                                     (the daemon does it daily); never a pending file
  audit verify --config FILE [--anchor SEQ:HASH]... [--json]
                                     check the ledger's audit chain of deliveries and
                                     disclosures, read-only; exit 1 if it is not whole
  files --config FILE [--job J] [--state pending|failed] [--json]
                                     every file not done: job, partner, step, attempts, age,
                                     last error
  files retry --config FILE [--by NAME] [--reason TEXT] [--force] ID
                                     take a stuck file again under the current config; a
                                     delivery begun for a destination since changed is given up
                                     for a fresh one, and what the old one may hold is reported
  files abandon --config FILE --reason TEXT [--by NAME] ID
                                     give a file up: remove its staging, record who and why;
                                     its source is left where it is and not taken again
  health [--url URL]                 ask a running daemon's ops endpoint if it is up (exit 0 if so)
  version                            print the version
`)
}
