package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"github.com/exchanged/exchanged/internal/sftpd"
)

// A connection pkg/sftp reports lost is the endpoint's ErrConnectionLost,
// transient, with pkg/sftp's own error still in the chain.
func TestConnectionLost(t *testing.T) {
	err := connectionLost(fmt.Errorf("sftp x: write: %w", sftp.ErrSSHFxConnectionLost))
	if !errors.Is(err, endpoint.ErrConnectionLost) || !errors.Is(err, sftp.ErrSSHFxConnectionLost) || !endpoint.IsTransient(err) {
		t.Fatalf("connectionLost = %v; want a transient endpoint.ErrConnectionLost", err)
	}
	if err := connectionLost(sftp.ErrSSHFxPermissionDenied); errors.Is(err, endpoint.ErrConnectionLost) {
		t.Fatalf("connectionLost(permission denied) = %v; want it unchanged", err)
	}
}

// Every call on an open file whose connection is cut answers
// endpoint.ErrConnectionLost, so that the runner retries it: reads, writes
// and closes alike.
func TestOpenFilesReportConnectionLost(t *testing.T) {
	s := sftptest.StartInproc(t, sftpd.Options{})
	if err := os.WriteFile(filepath.Join(s.Root, "a.csv"), bytes.Repeat([]byte("x"), 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ep := New("p", s.Config, nil, nil)
	defer ep.Close()
	ctx := context.Background()
	r, err := ep.Open(ctx, "/a.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := ep.Create(ctx, "/b.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	s.Server.DropConnections()

	// The client learns of the cut when its next request fails; until
	// then a call may still succeed from what was read ahead. Each call is
	// tried a bounded number of times.
	lost := func(name string, call func() error) {
		t.Helper()
		var err error
		for range 50 {
			if err = call(); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !errors.Is(err, endpoint.ErrConnectionLost) || !endpoint.IsTransient(err) {
			t.Errorf("%s after the connection was cut = %v; want a transient endpoint.ErrConnectionLost", name, err)
		}
	}
	buf := make([]byte, 64<<10)
	lost("Read", func() error { _, err := r.Read(buf); return err })
	lost("Write", func() error { _, err := w.Write(buf); return err })
	lost("Close", w.Close)
}
