// Package sftp is the endpoint of a partner's SFTP server, over
// golang.org/x/crypto/ssh and github.com/pkg/sftp: lazy dials bounded by
// the context, host keys always verified (hostkey.go), the server's
// request sizes learnt from limits@openssh.com (limits.go), symlinks never
// followed (read.go), and uploads that never replace a file (write.go). A
// lost connection is endpoint.ErrConnectionLost and is rebuilt on the
// next call.
package sftp
