// Package demo is the tour behind "exchanged demo": two in-process SFTP
// servers on loopback (a creditor and a bailiff) and a local case system,
// seeded with sample files, a generated config pinning the servers' host
// keys, and every sample job run once through the real runner and ledger.
// It needs no network beyond 127.0.0.1 and no setup.
package demo
