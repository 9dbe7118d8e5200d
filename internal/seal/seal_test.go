package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/sio"
)

func newKey(tb testing.TB) *Key {
	tb.Helper()
	k, err := NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// sealFile seals data into a new file, in one Write, and returns its
// path.
func sealFile(t *testing.T, k *Key, data []byte) string {
	t.Helper()
	return sealChunks(t, k, data, max(len(data), 1))
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
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 2 << 20, 3<<20 + 17} {
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
	data := bytes.Repeat([]byte("Jansen;Dorpsstraat 1;"), 20000) // 420 KB: 7 packages
	lastPkg := (len(data)+1)%(64<<10) + 32                       // its plaintext, the trailer, header and tag
	cases := map[string]struct {
		change   func(b []byte) []byte
		key      *Key
		atOpen   bool
		contains string
	}{
		"wrong key":            {key: newKey(t), atOpen: true, contains: "another key"},
		"flipped byte early":   {change: func(b []byte) []byte { b[len(b)/3] ^= 1; return b }},
		"flipped last byte":    {change: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, atOpen: true},
		"flipped magic":        {change: func(b []byte) []byte { b[3] ^= 1; return b }, atOpen: true, contains: "not sealed"},
		"flipped key id":       {change: func(b []byte) []byte { b[len(Magic)] ^= 1; return b }, atOpen: true, contains: "another key"},
		"flipped salt":         {change: func(b []byte) []byte { b[headerSize-1] ^= 1; return b }, atOpen: true},
		"truncated in package": {change: func(b []byte) []byte { return b[:len(b)-100] }, atOpen: true},
		"truncated at package": {change: func(b []byte) []byte { return b[:len(b)-lastPkg] }, atOpen: true},
		"truncated to header":  {change: func(b []byte) []byte { return b[:headerSize] }, atOpen: true, contains: "truncated"},
		"header only, cut":     {change: func(b []byte) []byte { return b[:headerSize-1] }, atOpen: true, contains: "not sealed"},
		"byte appended":        {change: func(b []byte) []byte { return append(b, 0) }, atOpen: true},
		"last package twice":   {change: func(b []byte) []byte { return append(b, b[len(b)-lastPkg:]...) }, atOpen: true},
		"age, earlier build":   {change: func([]byte) []byte { return []byte(ageMagic + "-> X25519 ...") }, atOpen: true, contains: "age"},
		"plaintext":            {change: func([]byte) []byte { return data }, atOpen: true, contains: "not sealed"},
		"empty":                {change: func([]byte) []byte { return nil }, atOpen: true, contains: "not sealed"},
		// Whole packages moved within the file, or taken from another
		// file sealed under the same key at the same place: each is
		// authenticated, but not as that file's package at that place.
		"packages reordered": {change: func(b []byte) []byte { return swapPackages(b, 1, 2) }},
		"first two swapped":  {change: func(b []byte) []byte { return swapPackages(b, 0, 1) }},
		"last one moved":     {change: func(b []byte) []byte { return swapPackages(b, 5, 6) }, atOpen: true},
		"package spliced": {change: func(b []byte) []byte {
			other, _ := os.ReadFile(sealFile(t, k, data))
			return splicePackage(b, other, 2)
		}},
		"last package spliced": {change: func(b []byte) []byte {
			other, _ := os.ReadFile(sealFile(t, k, data))
			return splicePackage(b, other, 6)
		}, atOpen: true},
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

// pkgAt returns where package i of sealed file b starts.
func pkgAt(i int) int { return headerSize + i*packageSize }

// swapPackages swaps whole packages i and j (i < j, j may be the last,
// shorter one: then it goes to i's place and i's after it).
func swapPackages(b []byte, i, j int) []byte {
	pi, pj := b[pkgAt(i):pkgAt(i+1)], b[pkgAt(j):min(pkgAt(j+1), len(b))]
	out := append([]byte{}, b[:pkgAt(i)]...)
	out = append(out, pj...)
	out = append(out, b[pkgAt(i+1):pkgAt(j)]...)
	out = append(out, pi...)
	return append(out, b[min(pkgAt(j+1), len(b)):]...)
}

// splicePackage replaces package i of b with package i of other.
func splicePackage(b, other []byte, i int) []byte {
	end := min(pkgAt(i+1), len(b))
	out := append([]byte{}, b[:pkgAt(i)]...)
	out = append(out, other[pkgAt(i):end]...)
	return append(out, b[end:]...)
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
	if newk, _ := ParseKey(newFile); both.ID() != newk.ID() {
		t.Fatal("the first key does not seal")
	}
}

func TestParseKeyRefuses(t *testing.T) {
	b31, b33 := base64.StdEncoding.EncodeToString(make([]byte, 31)), base64.StdEncoding.EncodeToString(make([]byte, 33))
	for _, s := range []string{"", "hunter2", "# only a comment\n", "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
		KeyPrefix + b31, KeyPrefix + b33, KeyPrefix + "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MT*=", // not base64
		"EXCHANGED-STAGING-KEY-2:" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		KeyPrefix + base64.RawStdEncoding.EncodeToString(make([]byte, 32))} {
		_, err := ParseKey([]byte(s))
		if err == nil {
			t.Fatalf("%q: accepted", s)
		}
		if value := strings.TrimPrefix(s, KeyPrefix); s != "" && (strings.Contains(err.Error(), s) || strings.Contains(err.Error(), value)) {
			t.Fatalf("the error repeats the text: %v", err)
		}
	}
	good, _ := GenerateFile()
	if _, err := ParseKey(append(append([]byte{}, good...), "hunter2\n"...)); err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("a good key and a bad line: %v, want the bad line refused by number", err)
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
	if err != nil || k2.ID() != k1.ID() {
		t.Fatalf("loaded again: %v, another key: %v", err, k2 != nil && k2.ID() != k1.ID())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("the directory holds %d entries, want the key file only", len(ents))
	}
	os.Chmod(p, 0o640)
	if _, err := LoadOrCreate(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key file others may read: %v", err)
	}
	// A key file past the limit is refused, not read cut short (its
	// first key valid, what follows the limit never seen).
	os.Chmod(p, 0o600)
	good, _ := os.ReadFile(p)
	big := append(append([]byte{}, good...), []byte(strings.Repeat("# padding\n", maxKeyFile/10+1))...)
	os.WriteFile(p, big, 0o600)
	if _, err := LoadOrCreate(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a key file over %d bytes: %v", maxKeyFile, err)
	}
}

// TestEveryPackageAuthenticated flips one byte in each package of a
// sealed file in turn (its DARE header, payload and tag) and finds each
// refused: at Open for the last package, by Verify for the others,
// having returned only the whole packages before it.
func TestEveryPackageAuthenticated(t *testing.T) {
	k := newKey(t)
	data := make([]byte, 3*64<<10+10) // 4 packages
	rand.Read(data)
	p := sealFile(t, k, data)
	orig, _ := os.ReadFile(p)
	const pkg = 64<<10 + 32
	for i := 0; i < 4; i++ {
		for _, at := range []int{1, 4, 16, 40000, pkg - 1} { // cipher, nonce, payload, tag
			b := append([]byte{}, orig...)
			pos := headerSize + i*pkg + at
			if pos >= len(b) {
				pos = len(b) - 1
			}
			b[pos] ^= 0x10
			os.WriteFile(p, b, 0o600)
			r, err := open(t, k, p)
			if i == 3 {
				if !errors.Is(err, ErrAuth) {
					t.Fatalf("package %d byte %d: Open %v, want ErrAuth", i, at, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("package %d byte %d: Open %v", i, at, err)
			}
			got, err := io.ReadAll(r)
			if !errors.Is(err, ErrAuth) || len(got) != i*64<<10 || !bytes.Equal(got, data[:len(got)]) {
				t.Fatalf("package %d byte %d: read %d bytes, %v; want %d bytes then ErrAuth", i, at, len(got), err, i*64<<10)
			}
		}
	}
}

// TestAESGCMPerFileKey: every package is DARE 2.0 with AES-256-GCM, and
// two files of the same plaintext share neither salt nor ciphertext.
func TestAESGCMPerFileKey(t *testing.T) {
	k := newKey(t)
	data := make([]byte, 100<<10)
	a, _ := os.ReadFile(sealFile(t, k, data))
	b, _ := os.ReadFile(sealFile(t, k, data))
	for _, f := range [][]byte{a, b} {
		for off := headerSize; off < len(f); off += 64<<10 + 32 {
			if f[off] != sio.Version20 || f[off+1] != sio.AES_256_GCM {
				t.Fatalf("package at %d: version %#x cipher %d, want DARE 2.0 AES-256-GCM", off, f[off], f[off+1])
			}
		}
	}
	if !bytes.Equal(a[:headerSize-saltSize], b[:headerSize-saltSize]) {
		t.Fatal("two files of one key have different magic or key id")
	}
	if bytes.Equal(a[headerSize-saltSize:headerSize], b[headerSize-saltSize:headerSize]) || bytes.Equal(a[headerSize+32:headerSize+64], b[headerSize+32:headerSize+64]) {
		t.Fatal("two files share a salt or ciphertext")
	}
}

func TestSeekReadsFromAnywhere(t *testing.T) {
	k := newKey(t)
	data := make([]byte, 5*64<<10+123)
	rand.Read(data)
	r, err := open(t, k, sealFile(t, k, data))
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{200000, 0, 64 << 10, 64<<10 - 1, 5 * 64 << 10, int64(len(data)) - 1, int64(len(data))} {
		r.Seek(off, io.SeekStart)
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data[off:]) {
			t.Fatalf("from %d: read %d bytes, %v", off, len(got), err)
		}
	}
	if !r.Verified() {
		t.Fatal("not verified after reading from 0 to the end")
	}
}

func TestIsSealed(t *testing.T) {
	for s, want := range map[string]bool{
		"": false, "exchanged-seal/": false, Magic: true, Magic + "rest": true,
		"Jansen;Dorpsstraat 1\n": false, ageMagic + "-> X25519": true, // never sealed again as plaintext
	} {
		if got, err := IsSealed(strings.NewReader(s)); err != nil || got != want {
			t.Errorf("IsSealed(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

// IsPlain: only bytes that cannot be the start of a file Seal is writing
// (its header comes first) are plaintext.
func TestIsPlain(t *testing.T) {
	for s, want := range map[string]bool{
		"": false, "e": false, "exchanged-seal/": false, Magic: false, Magic + "rest": false,
		"age-enc": false, ageMagic[:19]: false, ageMagic + "-> X25519": false,
		"Jansen;Dorpsstraat 1\n": true, "K": true, "exchanged-seam": true, "exchanged-seal/2\nJansen": true,
	} {
		if got, err := IsPlain(strings.NewReader(s)); err != nil || got != want {
			t.Errorf("IsPlain(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

// Load never creates a key; HeaderKeyID reads the id a file was sealed
// under from its header alone.
func TestLoadAndHeaderKeyID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "staging.key")
	if _, err := Load(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing key = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Load created a key")
	}
	k := newKey(t)
	b, _ := os.ReadFile(sealFile(t, k, []byte("Jansen")))
	for s, want := range map[string]string{string(b): k.ID(), string(b[:len(Magic)+idSize]): k.ID(),
		string(b[:len(Magic)+idSize-1]): "", "Jansen;Dorpsstraat 1\n": "", "": ""} {
		id, ok, err := HeaderKeyID(strings.NewReader(s))
		if err != nil || id != want || ok != (want != "") {
			t.Errorf("HeaderKeyID(%d bytes) = %q, %v, %v; want %q", len(s), id, ok, err, want)
		}
	}
	if !k.Has(k.ID()) || k.Has(newKey(t).ID()) {
		t.Error("Has")
	}
}
