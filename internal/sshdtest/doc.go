// Package sshdtest starts a real OpenSSH sshd on a loopback port, for tests and benchmarks
// that need a real SFTP peer. Keys are generated per server, the client pins the host key
// through a known_hosts file, and the process is killed with its sessions when the test ends.
// Without a usable sshd the test is skipped, except under CI=true, where it fails.
package sshdtest
