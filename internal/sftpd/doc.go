// Package sftpd is an in-process SFTP server over SSH on loopback, for tests, benchmarks and
// the `exchanged demo` command. It serves one directory, confined with os.Root so that no
// client path escapes it, authenticates one user by public key or password, and behaves like
// OpenSSH's sftp-server where the daemon depends on it: plain rename never overwrites,
// posix-rename@openssh.com does (unless turned off), and symlinks are reported, never followed by open.
package sftpd
