package seal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxKeyFile bounds what a key file may hold: a key line is 68 bytes.
const maxKeyFile = 64 << 10

// LoadOrCreate reads the key file at path, or, if there is none, creates
// one with a new key (mode 0600): written to a temporary file, synced and
// linked into place, so that a crash never leaves a partial key and two
// processes agree on one. A key file that is not a regular file, or that
// its group or others may read, is refused.
func LoadOrCreate(path string) (*Key, error) {
	b, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = createKeyFile(path)
	}
	return parseKeyFile(path, b, err)
}

// Load reads the key file at path; one that is not there is an error
// wrapping fs.ErrNotExist. Like LoadOrCreate, but it never creates one.
func Load(path string) (*Key, error) {
	b, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("seal: key file %s: %w", path, err)
	}
	return parseKeyFile(path, b, err)
}

// parseKeyFile parses b, read from the key file at path, unless reading
// it failed with err.
func parseKeyFile(path string, b []byte, err error) (*Key, error) {
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	return k, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s has mode %04o; it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("seal: key file %s is larger than %d bytes", path, maxKeyFile)
	}
	return b, nil
}

// createKeyFile writes a new key file at path and returns its text, or
// the text of the one another process linked there first.
func createKeyFile(path string) (_ []byte, err error) {
	b, err := GenerateFile()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("seal: create key: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600) // CreateTemp makes it 0600; say so in case that changes
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return readKeyFile(path) // another process won
	case err != nil:
		return nil, fmt.Errorf("seal: create key: %w", err)
	}
	d, err := os.Open(dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("seal: create key: sync dir: %w", err)
	}
	return b, nil
}
