// Package proftpdtest starts a real ProFTPD with mod_sftp on a loopback port, for tests that
// need an SFTP server other than OpenSSH's: RSA and Ed25519 host keys, a chrooted virtual
// user, and a drop folder where only uploads are allowed. It runs as root (ProFTPD chroots
// and switches to the user); without a usable proftpd the test is skipped, except under
// CI=true, where it fails.
package proftpdtest
