package exchange

import "context"

// Connect dials now if no connection is up, so that a refused host key or
// login is reported before any file operation. Later calls reuse the
// connection. For "config validate --connect".
func (s *SFTP) Connect(ctx context.Context) error {
	_, err := s.client_(ctx)
	return err
}

// Connect opens the root now, so that a missing or unreadable root is
// reported before any file operation.
func (l *Local) Connect(ctx context.Context) error {
	_, err := l.open()
	return err
}
