package pgp

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// benchSize is what each benchmark iteration streams: 256 MiB.
const benchSize = 256 << 20

// csvLike is an endless stream of CSV-looking text, never held whole.
type csvLike struct{ n int64 }

var csvLine = []byte("R-000123,K-000456,Jan Jansen,Dorpsstraat 1,1234 AB,Utrecht,NL91ABNA0417164300,1234.56\n")

func (c *csvLike) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && c.n > 0 {
		k := copy(p[n:], csvLine[c.n%int64(len(csvLine)):])
		k = int(min(int64(k), c.n))
		n += k
		c.n -= int64(k)
	}
	return n, nil
}

func benchKeys(b *testing.B, algo packet.PublicKeyAlgorithm) (agency, partner *Key) {
	b.Helper()
	mk := func(name string) *Key {
		e, err := openpgp.NewEntity(name, "", name+"@example", &packet.Config{Algorithm: algo, RSABits: 3072})
		if err != nil {
			b.Fatal(err)
		}
		return &Key{e: e}
	}
	return mk("agency"), mk("partner")
}

// encryptFile encrypts benchSize bytes to partner, signed by agency, into
// a file under dir, streaming.
func encryptFile(b *testing.B, dir string, agency, partner *Key) string {
	p := filepath.Join(dir, "msg.pgp")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := Encrypt(bw, partner, agency, false, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(w, &csvLike{n: benchSize}); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkEncrypt: encrypt and sign 256 MiB to a file, streaming.
func BenchmarkEncrypt(b *testing.B) {
	for _, a := range []struct {
		name string
		algo packet.PublicKeyAlgorithm
	}{{"x25519", packet.PubKeyAlgoEdDSA}, {"rsa3072", packet.PubKeyAlgoRSA}} {
		b.Run(a.name, func(b *testing.B) {
			agency, partner := benchKeys(b, a.algo)
			dir := b.TempDir()
			b.SetBytes(benchSize)
			for b.Loop() {
				encryptFile(b, dir, agency, partner)
			}
		})
	}
}

// BenchmarkDecrypt: decrypt and verify 256 MiB from a file, streaming.
func BenchmarkDecrypt(b *testing.B) {
	for _, a := range []struct {
		name string
		algo packet.PublicKeyAlgorithm
	}{{"x25519", packet.PubKeyAlgoEdDSA}, {"rsa3072", packet.PubKeyAlgoRSA}} {
		b.Run(a.name, func(b *testing.B) {
			agency, partner := benchKeys(b, a.algo)
			// The partner encrypts to the agency and signs.
			p := encryptFile(b, b.TempDir(), partner, agency)
			b.SetBytes(benchSize)
			for b.Loop() {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				r, err := Decrypt(bufio.NewReaderSize(f, 1<<20), 0, agency, partner, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, r)
				f.Close()
				if err != nil || n != benchSize {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
		})
	}
}

// BenchmarkCopy is the baseline: the same 256 MiB written to a file and
// read back with no OpenPGP.
func BenchmarkCopy(b *testing.B) {
	p := filepath.Join(b.TempDir(), "plain")
	b.SetBytes(benchSize)
	for b.Loop() {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, &csvLike{n: benchSize}); err != nil {
			b.Fatal(err)
		}
		f.Close()
		f, _ = os.Open(p)
		io.Copy(io.Discard, f)
		f.Close()
	}
}
