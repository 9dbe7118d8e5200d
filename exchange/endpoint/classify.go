package endpoint

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Class is the verdict on a failure: whether trying the same step again
// may help.
type Class int

const (
	// ClassFailed is a failure that is neither transient nor permanent: the
	// step is not retried within the run, and tried again on the next.
	ClassFailed Class = iota
	// ClassTransient is a failure that may pass if the step is tried again
	// soon: a connection refused, reset or lost, a host or network
	// unreachable, a timeout.
	ClassTransient
	// ClassPermanent is a failure that comes again until someone acts: auth
	// refused, host key mismatch, permission refused, a name refused, a
	// full or read-only disk, a file rejected. It is never retried.
	ClassPermanent
	// ClassCancelled is the end of the work's context: no failure of the step.
	ClassCancelled
)

// verdicts is the one table of which errors mean what. An error that wraps
// several of them takes the strongest class (ClassCancelled over
// ClassPermanent over ClassTransient: a step cut short is interrupted,
// whatever else failed with it), and is fatal if any of them is.
var verdicts = []struct {
	err   error
	class Class
	// fatal: the error ends a whole run, not one file's step: the run
	// was cancelled or timed out, or an endpoint refused us for good, and
	// every other file would meet the same.
	fatal bool
}{
	{ErrHostKeyUnknown, ClassPermanent, true},
	{ErrHostKeyChanged, ClassPermanent, true},
	{ErrAuth, ClassPermanent, true},
	{ErrBadName, ClassPermanent, false},
	{context.Canceled, ClassCancelled, true},
	{context.DeadlineExceeded, ClassTransient, true},
	{ErrConnectionLost, ClassTransient, false},
	{syscall.ECONNREFUSED, ClassTransient, false},
	{syscall.ECONNRESET, ClassTransient, false},
	{syscall.ECONNABORTED, ClassTransient, false},
	{syscall.EPIPE, ClassTransient, false},
	{syscall.ETIMEDOUT, ClassTransient, false},
	{syscall.EHOSTUNREACH, ClassTransient, false},
	{syscall.ENETUNREACH, ClassTransient, false},
	{syscall.EHOSTDOWN, ClassTransient, false},
	{syscall.ENETDOWN, ClassTransient, false},
	{io.EOF, ClassTransient, false},
	{io.ErrUnexpectedEOF, ClassTransient, false},
	{net.ErrClosed, ClassTransient, false},
	{os.ErrDeadlineExceeded, ClassTransient, false},
}

// Classify returns the class of err, and whether it is fatal: it ends the
// run that met it rather than one file's step. A nil err is ClassFailed and not
// fatal. An error marked with Permanent, or a *RefusedError, is ClassPermanent;
// a net.Error that timed out is ClassTransient.
func Classify(err error) (class Class, fatal bool) {
	if err == nil {
		return ClassFailed, false
	}
	var p permanentError
	var r *RefusedError
	if errors.As(err, &p) || errors.As(err, &r) {
		class = ClassPermanent
	}
	for _, v := range verdicts {
		if errors.Is(err, v.err) {
			class = max(class, v.class)
			fatal = fatal || v.fatal
		}
	}
	var ne net.Error
	if class == ClassFailed && errors.As(err, &ne) && ne.Timeout() {
		class = ClassTransient
	}
	return class, fatal
}

// IsPermanent reports whether err is ClassPermanent: retrying will not help.
func IsPermanent(err error) bool { c, _ := Classify(err); return c == ClassPermanent }

// IsTransient reports whether err is ClassTransient: the step may pass if tried
// again. A permanent error and a cancelled context are never transient.
func IsTransient(err error) bool { c, _ := Classify(err); return c == ClassTransient }

// IsFatal reports whether err ends the run that met it rather than one
// file's step (see Classify).
func IsFatal(err error) bool { _, f := Classify(err); return f }

// permanentError marks an error that a retry will not cure.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: retrying will not help (a private key
// that does not parse, a full disk, a file rejected). It returns nil for
// nil, and err unchanged if it is permanent already.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return permanentError{err}
}

func (c Class) String() string {
	switch c {
	case ClassTransient:
		return "transient"
	case ClassPermanent:
		return "permanent"
	case ClassCancelled:
		return "cancelled"
	}
	return "failed"
}
