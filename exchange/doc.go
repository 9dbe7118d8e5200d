// Package exchange moves files: endpoints (SFTP and local directories),
// connections, staging, and the job runner that takes a file from seen to
// delivered. It streams file contents and never reads one whole; it knows
// nothing of CSV, which is the transform package's.
package exchange
