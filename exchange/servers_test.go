package exchange

import (
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp/sftptest"
	"github.com/exchanged/exchanged/internal/proftpdtest"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/internal/sshdtest"
)

// inproc is an in-process SFTP server and the config to reach it.
type inproc struct {
	srv  *sftpd.Server
	root string
	cfg  config.SFTP
}

func startInproc(t testing.TB, opts sftpd.Options) *inproc {
	t.Helper()
	s := sftptest.StartInproc(t, opts)
	return &inproc{srv: s.Server, root: s.Root, cfg: s.Config}
}

func opensshConfig(t testing.TB, s *sshdtest.Server) config.SFTP { return sftptest.OpenSSH(t, s) }

func proftpdConfig(t testing.TB, s *proftpdtest.Server) config.SFTP { return sftptest.ProFTPD(t, s) }
