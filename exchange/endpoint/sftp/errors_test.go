package sftp

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pkg/sftp"

	"github.com/exchanged/exchanged/exchange/endpoint"
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
