package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestIsTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{fmt.Errorf("sftp x: write: %w", ErrConnectionLost), true},
		{fmt.Errorf("sftp x: handshake: %w", io.EOF), true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{fmt.Errorf("dial: %w", os.ErrDeadlineExceeded), true},
		{errors.Join(errors.New("a"), fmt.Errorf("b: %w", net.ErrClosed)), true},
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("sftp x: %w", ErrAuth), false},
		{fmt.Errorf("sftp x: %w", ErrHostKeyChanged), false},
		{Permanent(fmt.Errorf("staging: %w", syscall.ENOSPC)), false},
		{Permanent(fmt.Errorf("lost: %w", io.EOF)), false}, // marked permanent wins
		{errors.Join(fmt.Errorf("%w", io.EOF), fmt.Errorf("%w", ErrAuth)), false},
		{fmt.Errorf("%w: x", ErrSizeMismatch), false},
		{fs.ErrNotExist, false},
	} {
		if got := IsTransient(c.err); got != c.want {
			t.Errorf("IsTransient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestClassify: the one table, read as the runner reads it: what is
// retried, what is never, and what ends a run.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err   error
		class Class
		fatal bool
	}{
		{nil, ClassFailed, false},
		{fs.ErrNotExist, ClassFailed, false},
		{fmt.Errorf("x: %w", ErrAuth), ClassPermanent, true},
		{fmt.Errorf("x: %w", ErrHostKeyUnknown), ClassPermanent, true},
		{fmt.Errorf("x: %w", ErrHostKeyRevoked), ClassPermanent, true},
		{fmt.Errorf("x: %w", ErrBadName), ClassPermanent, false},
		{&RefusedError{Op: "create", Err: fs.ErrPermission}, ClassPermanent, false},
		{Permanent(errors.New("disk full")), ClassPermanent, false},
		{context.Canceled, ClassCancelled, true},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), ClassTransient, true},
		{fmt.Errorf("x: %w", ErrConnectionLost), ClassTransient, false},
		{errors.Join(context.Canceled, io.EOF), ClassCancelled, true},
		{errors.Join(context.Canceled, ErrBadName), ClassCancelled, true},
		{Permanent(context.Canceled), ClassCancelled, true},
		{errors.Join(io.EOF, &RefusedError{Op: "rename", Err: fs.ErrPermission}), ClassPermanent, false},
	} {
		class, fatal := Classify(c.err)
		if class != c.class || fatal != c.fatal {
			t.Errorf("Classify(%v) = %v, %v; want %v, %v", c.err, class, fatal, c.class, c.fatal)
		}
		if IsPermanent(c.err) != (c.class == ClassPermanent) || IsFatal(c.err) != c.fatal {
			t.Errorf("IsPermanent/IsFatal(%v) disagree with Classify", c.err)
		}
	}
}

func TestRefused(t *testing.T) {
	err := Refused("create", fmt.Errorf("open: %w", fs.ErrPermission))
	var re *RefusedError
	if !errors.As(err, &re) || re.Op != "create" || !IsPermanent(err) {
		t.Fatalf("Refused(permission) = %v, want a permanent *RefusedError of create", err)
	}
	if again := Refused("stat", err); again != err {
		t.Errorf("Refused of a RefusedError = %v, want it unchanged", again)
	}
	if err := Refused("create", fs.ErrNotExist); !errors.Is(err, fs.ErrNotExist) || errors.As(err, &re) {
		t.Errorf("Refused(not exist) = %v, want it unchanged", err)
	}
}
