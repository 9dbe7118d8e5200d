// Package bench measures exchanged against what an operator would use
// instead, in one run and on one machine. BenchmarkUserPath drives the
// real binary (`exchanged once`) against a real OpenSSH sshd, interleaved
// with `sftp -b`, rclone and the SSH transport itself on the same files:
// what a user sees. The endpoint micro-benchmarks (BenchmarkLargeFile,
// BenchmarkSmallFiles) time exchanged's SFTP endpoint and job runner in
// process; BenchmarkIdleDaemon the idle daemon's CPU and memory with many
// jobs. The benchmarks live in the test files; BENCHMARKS.md has the
// figures and how to reproduce them.
package bench
