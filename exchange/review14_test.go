package exchange

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/ledger"
)

// Review of issue 14: a delivery resumed after its rename was cut between
// the hard link and the removal of the temp name (a crash, or a node that
// lost its lease or connection there) finds its own file under the final
// name. On a partner that refuses reading it, linkedBefore tells it by
// SameFile, which the SFTP endpoint offers; in a cluster every endpoint
// is wrapped in leaseEndpoint, which must not hide that: else the
// delivery waits as for another file, and once the partner took its own
// file the rename makes the second copy.
func TestReview14LeaseEndpointKeepsSameFile(t *testing.T) {
	srv := startInproc(t, sftpd.Options{Deny: []string{"read"}})
	mkdirs(t, srv.root, "in")
	tmp, final := filepath.Join(srv.root, "in", ".exchanged-1-0-aa.part"), filepath.Join(srv.root, "in", "a.csv")
	if err := os.WriteFile(tmp, claims, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(tmp, final); err != nil { // linked, temp name not yet removed
		t.Fatal(err)
	}
	sum := sha256.Sum256(claims)
	s := sftp.New("cases", srv.cfg, zap.NewNop(), nil)
	defer s.Close()
	for _, tc := range []struct {
		name string
		ep   endpoint.Endpoint
	}{
		{"alone", s},
		{"cluster", leaseEndpoint{Endpoint: s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := &delivery{ep: tc.ep, l: zap.NewNop(),
				d: &ledger.Delivery{Size: int64(len(claims)), SHA256: hex.EncodeToString(sum[:])}}
			ours, err := x.linkedBefore(context.Background(), "/in/.exchanged-1-0-aa.part", "/in/a.csv")
			if err != nil || !ours {
				t.Fatalf("linkedBefore = %v, %v: the delivery's own linked file taken for another's (it waits, then is delivered twice)", ours, err)
			}
		})
	}
}
