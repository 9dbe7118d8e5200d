// Package config reads the exchanged configuration file (format version 1)
// into a validated, defaulted Config. Unknown keys are errors naming their
// path, secrets are references (env:NAME, file:/path) expanded at load time,
// and Validate names the field at fault. It performs no I/O beyond reading
// the file and the secrets it references.
package config
