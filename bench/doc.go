// Package bench measures exchanged against what an operator would use
// instead, in one run and on one machine: its SFTP endpoint against
// OpenSSH's own sftp client on a real OpenSSH sshd (one large file, many
// small ones), and the idle daemon's CPU and memory with many jobs. The
// benchmarks live in the test files; BENCHMARKS.md has the figures and how
// to reproduce them.
package bench
