package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newKey(tb testing.TB) *Key {
	tb.Helper()
	k, err := NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// sealFile seals data into a new file and returns its path.
func sealFile(t *testing.T, k *Key, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sealed")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := k.Seal(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func open(t *testing.T, k *Key, p string) (*Reader, error) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := k.Open(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	t.Cleanup(func() { r.Close() })
	return r, nil
}

func TestRoundTrip(t *testing.T) {
	k := newKey(t)
	for _, size := range []int{0, 1, 64 << 10, 64<<10 + 1, 3<<20 + 17} {
		data := make([]byte, size)
		rand.Read(data)
		p := sealFile(t, k, data)
		raw, _ := os.ReadFile(p)
		if !bytes.HasPrefix(raw, []byte(Magic)) || (size > 32 && bytes.Contains(raw, data[:32])) {
			t.Fatalf("size %d: the file is not sealed", size)
		}
		r, err := open(t, k, p)
		if err != nil {
			t.Fatal(err)
		}
		if r.Size() != int64(size) {
			t.Fatalf("Size %d, want %d", r.Size(), size)
		}
		for pass := 0; pass < 2; pass++ { // read twice: Seek back works
			got, err := io.ReadAll(io.LimitReader(r, int64(size)+1))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d pass %d: read %d bytes, %v", size, pass, len(got), err)
			}
			if !r.Verified() {
				t.Fatalf("size %d: not verified after a whole read", size)
			}
			r.Seek(0, io.SeekStart)
		}
	}
}

func TestAuthFailures(t *testing.T) {
	k := newKey(t)
	data := bytes.Repeat([]byte("Jansen;Dorpsstraat 1;"), 20000) // 420 KB: 7 chunks
	cases := map[string]struct {
		change   func(b []byte) []byte
		key      *Key
		atOpen   bool
		contains string
	}{
		"wrong key":          {key: newKey(t), atOpen: true, contains: "another key"},
		"flipped byte early": {change: func(b []byte) []byte { b[len(b)/3] ^= 1; return b }},
		"flipped last byte":  {change: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, atOpen: true},
		"truncated in chunk": {change: func(b []byte) []byte { return b[:len(b)-100] }, atOpen: true},
		"truncated at chunk": {change: func(b []byte) []byte { return b[:len(b)-(len(data)%(64<<10))-16] }, atOpen: true},
		"plaintext":          {change: func([]byte) []byte { return data }, atOpen: true, contains: "not sealed"},
		"empty":              {change: func([]byte) []byte { return nil }, atOpen: true, contains: "not sealed"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := sealFile(t, k, data)
			if c.change != nil {
				b, _ := os.ReadFile(p)
				os.WriteFile(p, c.change(b), 0o600)
			}
			key := k
			if c.key != nil {
				key = c.key
			}
			r, err := open(t, key, p)
			if c.atOpen {
				if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), c.contains) {
					t.Fatalf("Open: %v, want ErrAuth (%q)", err, c.contains)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			got, err := io.ReadAll(r)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("read: %v, want ErrAuth", err)
			}
			if !bytes.HasPrefix(data, got) || len(got)%(64<<10) != 0 {
				t.Fatalf("read %d bytes before the failing chunk, not whole authenticated chunks of the plaintext", len(got))
			}
			if _, err := r.Read(make([]byte, 10)); !errors.Is(err, ErrAuth) {
				t.Fatalf("read after failure: %v, want ErrAuth again", err)
			}
			r.Seek(0, io.SeekStart)
			if err := r.Verify(); !errors.Is(err, ErrAuth) {
				t.Fatalf("Verify: %v, want ErrAuth", err)
			}
		})
	}
}

func TestReadErrorIsNoAuthFailure(t *testing.T) {
	k := newKey(t)
	r, err := open(t, k, sealFile(t, k, make([]byte, 200<<10)))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	_, err = io.ReadAll(r)
	if err == nil || errors.Is(err, ErrAuth) || !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read from a closed file: %v, want a read error, not ErrAuth", err)
	}
}

func TestKeyRotation(t *testing.T) {
	oldFile, _ := GenerateFile()
	newFile, _ := GenerateFile()
	old, _ := ParseKey(oldFile)
	both, err := ParseKey(append(append([]byte{}, newFile...), oldFile...))
	if err != nil {
		t.Fatal(err)
	}
	p := sealFile(t, old, []byte("sealed under the old key"))
	r, err := open(t, both, p)
	if err != nil {
		t.Fatalf("a file sealed under the second key: %v", err)
	}
	if got, _ := io.ReadAll(r); string(got) != "sealed under the old key" {
		t.Fatalf("read %q", got)
	}
	if newk, _ := ParseKey(newFile); both.Recipient() != newk.Recipient() {
		t.Fatal("the first identity does not seal")
	}
}

func TestParseKeyRefuses(t *testing.T) {
	for _, s := range []string{"", "hunter2", "AGE-SECRET-KEY-1NOTAKEY", "# only a comment\n"} {
		_, err := ParseKey([]byte(s))
		if err == nil {
			t.Fatalf("%q: accepted", s)
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("the error repeats the text: %v", err)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "staging.key")
	k1, err := LoadOrCreate(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v, want 0600", err, fi.Mode())
	}
	k2, err := LoadOrCreate(p)
	if err != nil || k2.Recipient() != k1.Recipient() {
		t.Fatalf("loaded again: %v, another key: %v", err, k2 != nil && k2.Recipient() != k1.Recipient())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("the directory holds %d entries, want the key file only", len(ents))
	}
	os.Chmod(p, 0o640)
	if _, err := LoadOrCreate(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key file others may read: %v", err)
	}
}
