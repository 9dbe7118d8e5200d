package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
)

// ErrAuth means that a sealed file failed authentication: sealed under
// another key, changed or truncated since it was written, or not sealed
// at all. None of its bytes can be trusted; the caller must not use any.
var ErrAuth = errors.New("seal: authentication failed")

// Magic begins every sealed file: the age format's first line.
const Magic = "age-encryption.org/v1\n"

// Key seals and opens files. The first identity of its key file seals;
// every one opens, so that a new key can be put first while files sealed
// under the old one are still delivered.
type Key struct {
	ids []age.Identity
	to  age.Recipient
}

// ParseKey reads an age identity file: one or more AGE-SECRET-KEY-1 lines,
// with # comments and blank lines, as age-keygen writes it. Its errors
// never hold the key's text.
func ParseKey(b []byte) (*Key, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, errors.New("not an age identity file (one or more AGE-SECRET-KEY-1... lines, as age-keygen writes)")
	}
	first, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, errors.New("the first identity must be an X25519 one (AGE-SECRET-KEY-1...)")
	}
	return &Key{ids: ids, to: first.Recipient()}, nil
}

// Recipient returns the public key that files are sealed to (age1...):
// safe to log, it names the key without revealing it.
func (k *Key) Recipient() string { return k.to.(*age.X25519Recipient).String() }

// Seal returns a writer that seals what is written to it into dst. The
// header is written to dst at once; Close writes the last chunk, and dst
// holds a whole sealed file only after it.
func (k *Key) Seal(dst io.Writer) (io.WriteCloser, error) {
	w, err := age.Encrypt(dst, k.to)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return w, nil
}

// IsSealed reports whether the file f begins as a sealed file does. A
// file that does not is none of ours (one staged by a version before
// staging was sealed). One that does is only known to be whole and ours
// once Open accepted it and every byte was read.
func IsSealed(f io.ReaderAt) (bool, error) {
	b := make([]byte, len(Magic))
	n, err := f.ReadAt(b, 0)
	if n == len(b) {
		return string(b) == Magic, nil
	}
	if err == io.EOF {
		return false, nil
	}
	return false, err
}

// NewKey returns a new key, kept nowhere: for tests and benchmarks.
func NewKey() (*Key, error) {
	b, err := GenerateFile()
	if err != nil {
		return nil, err
	}
	return ParseKey(b)
}

// GenerateFile returns a new key as the text of an age identity file.
func GenerateFile() ([]byte, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("seal: generate key: %w", err)
	}
	return []byte(fmt.Sprintf("# exchanged staging key, created %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)), nil
}
