// Package config reads the exchanged configuration file (format version 1)
// into a validated, defaulted Config. Unknown keys are errors naming their
// path, secrets are references (env:NAME, file:/path) expanded at load time,
// and every problem is named at its field, at once. What a dial or the
// scheduler would refuse is refused here first: schedules are read with the
// schedule package's parser, private keys are parsed and decrypted, and
// known_hosts files are read. It performs no I/O beyond reading the file,
// the secrets and the known_hosts files it names.
package config
