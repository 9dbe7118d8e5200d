// Package seal encrypts what exchanged keeps at rest in staging, with
// filippo.io/age: an X25519 key (an age identity, AGE-SECRET-KEY-1...) and
// ChaCha20-Poly1305 in 64 KiB chunks, each authenticated before a byte of
// it is released. It owns the key (parsed from a secret, or generated
// once into a 0600 file) and the sealed file's writer and reader; it
// holds no cryptography of its own.
package seal
