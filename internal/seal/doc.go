// Package seal encrypts what exchanged keeps at rest in staging, with
// github.com/minio/sio: the DARE 2.0 format, AES-256-GCM in 64 KiB
// packages, each authenticated before a byte of it is released, the last
// one marked final so that a truncated file is found. DARE needs a key
// of its own for every stream; each file's is derived with HKDF-SHA256
// (golang.org/x/crypto/hkdf) from the master key and a random salt kept
// in the file's header, as MinIO derives its object keys. The package
// owns the master key (parsed from a secret, or generated once into a
// 0600 file) and the sealed file's writer and reader; it holds no
// cryptography of its own, only the composition of those primitives.
//
// A sealed file is:
//
//	"exchanged-seal/1\n"  the magic line (Magic)
//	key id                 8 bytes: the first bytes of SHA-256(master key)
//	salt                   32 random bytes
//	DARE 2.0 stream        of the plaintext followed by one byte 0x01
//
// The file key is HKDF-SHA256(master key, salt, info = magic, key id and
// the cipher's name), so that a change to any byte of the header fails
// authentication. The byte after the plaintext makes even an empty
// file's stream one final package, so a file cut back to its header is
// found too.
package seal
