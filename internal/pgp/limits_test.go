package pgp

import (
	"bytes"
	"crypto/aes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// fastKey is a Curve25519 key made by go-crypto, in no time.
func fastKey(t *testing.T, name string) *Key {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	// Accepts compressed messages, as gpg's keys do.
	sig, _ := e.PrimarySelfSignature()
	sig.PreferredCompression = []uint8{uint8(packet.CompressionZLIB), uint8(packet.CompressionZIP), uint8(packet.CompressionNone)}
	return &Key{e: e}
}

// encryptRaw encrypts plain to key, signed by signer (may be nil), with
// go-crypto's own writer and cfg.
func encryptRaw(t *testing.T, plain io.Reader, to, signer *Key, cfg *packet.Config) []byte {
	t.Helper()
	var msg bytes.Buffer
	var s *openpgp.Entity
	if signer != nil {
		s = signer.e
	}
	w, err := openpgp.Encrypt(&msg, []*openpgp.Entity{to.e}, s, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return msg.Bytes()
}

// zeros is n zero bytes as a reader.
func zeros(n int64) io.Reader { return io.LimitReader(zeroReader{}, n) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestDecompressionBombRejected: a compressed message that decompresses to
// more than PlaintextLimit of its size is rejected as pgp_too_large once
// the limit is passed, before its (here wrong) signer could be judged at
// its end, and no more than the limit was released. The floor is lowered
// to 1 MiB so that a bomb of 32 MiB is enough.
func TestDecompressionBombRejected(t *testing.T) {
	defer func(f int64) { plaintextFloor = f }(plaintextFloor)
	plaintextFloor = 1 << 20
	agency, partner, other := fastKey(t, "agency"), fastKey(t, "partner"), fastKey(t, "other")
	for _, algo := range []packet.CompressionAlgo{packet.CompressionZLIB, packet.CompressionZIP} {
		cfg := &packet.Config{DefaultCompressionAlgo: algo, CompressionConfig: &packet.CompressionConfig{Level: 9}}
		msg := encryptRaw(t, zeros(32<<20), agency, partner, cfg)
		limit := PlaintextLimit(int64(len(msg)))
		if limit >= 32<<20 {
			t.Fatalf("limit %d for %d bytes: no bomb", limit, len(msg))
		}
		r, err := Decrypt(bytes.NewReader(msg), int64(len(msg)), agency, other, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatalf("algo %d: refused at once: %v", algo, err)
		}
		n, err := io.Copy(io.Discard, r)
		var pe *Error
		if !errors.As(err, &pe) || pe.Reason != ReasonTooLarge || pe.Security {
			t.Errorf("algo %d: %v, want %s (not a security event)", algo, err, ReasonTooLarge)
		}
		if n > limit {
			t.Errorf("algo %d: released %d bytes, limit %d", algo, n, limit)
		}
	}
	// A message within the limit passes.
	msg := encryptRaw(t, zeros(512<<10), agency, partner, &packet.Config{DefaultCompressionAlgo: packet.CompressionZLIB})
	r, err := Decrypt(bytes.NewReader(msg), int64(len(msg)), agency, partner, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, r); err != nil || n != 512<<10 {
		t.Errorf("within the limit: %d bytes, %v", n, err)
	}
}

func TestPlaintextLimit(t *testing.T) {
	for _, tc := range []struct{ size, want int64 }{{0, 1 << 30}, {1 << 20, 1 << 30}, {1 << 30, 64 << 30}, {1 << 62, 1 << 62}} {
		if got := PlaintextLimit(tc.size); got != tc.want {
			t.Errorf("PlaintextLimit(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

// eioReader fails with a disk error after n bytes.
type eioReader struct {
	r io.Reader
	n int
}

var errEIO = errors.New("read /var/lib/exchanged/staging/1/x: input/output error")

func (e *eioReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, errEIO
	}
	if len(p) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

// TestReadErrorNotRejected: a failure to read the message (the disk) is
// returned as it is, not as a rejection of the file, at once or midway.
func TestReadErrorNotRejected(t *testing.T) {
	agency, partner := fastKey(t, "agency"), fastKey(t, "partner")
	msg := encryptRaw(t, bytes.NewReader(bytes.Repeat([]byte("row\n"), 100000)), agency, partner, nil)
	for _, armored := range []bool{false, true} {
		in := msg
		if armored {
			var buf bytes.Buffer
			w, _ := armor.Encode(&buf, "PGP MESSAGE", nil)
			w.Write(msg)
			w.Close()
			in = buf.Bytes()
		}
		for _, cut := range []int{0, 10, len(in) / 2} {
			r, err := Decrypt(&eioReader{r: bytes.NewReader(in), n: cut}, int64(len(in)), agency, partner, time.Now().Add(time.Minute))
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
			if !errors.Is(err, errEIO) || errors.Is(err, ErrRejected) {
				t.Errorf("armored %v, EIO after %d bytes: %v, want the read error, not a rejection", armored, cut, err)
			}
		}
	}
}

// TestSignedByOtherKeyRejected: a message signed by a key that is not the
// one required (here the agency's own) is rejected at its end.
func TestSignedByOtherKeyRejected(t *testing.T) {
	agency, partner := fastKey(t, "agency"), fastKey(t, "partner")
	msg := encryptRaw(t, bytes.NewReader([]byte("hello\n")), agency, agency, nil)
	r, err := Decrypt(bytes.NewReader(msg), int64(len(msg)), agency, partner, time.Now().Add(time.Minute))
	if err == nil {
		_, err = io.Copy(io.Discard, r)
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Reason != ReasonWrongSigner || !pe.KeyMismatch() || pe.Detail != "signed by another key" {
		t.Errorf("signed by our own key: %v", err)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// TestUnprotectedMessageRejected pins that a message encrypted to us but
// without integrity protection (a Symmetrically Encrypted Data packet, no
// MDC: malleable) is rejected as pgp_corrupt, never decrypted.
func TestUnprotectedMessageRejected(t *testing.T) {
	agency := fastKey(t, "agency")
	enc, ok := agency.e.EncryptionKey(time.Now())
	if !ok {
		t.Fatal("no encryption key")
	}
	sessionKey := bytes.Repeat([]byte{7}, 16)
	var msg bytes.Buffer
	if err := packet.SerializeEncryptedKey(&msg, enc.PublicKey, packet.CipherAES128, sessionKey, nil); err != nil {
		t.Fatal(err)
	}
	var lit bytes.Buffer
	w, err := packet.SerializeLiteral(nopCloser{&lit}, true, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("R-1,K-1,Jan Jansen,1.00\n"))
	w.Close()
	block, _ := aes.NewCipher(sessionKey)
	stream, prefix := packet.NewOCFBEncrypter(block, bytes.Repeat([]byte{1}, 16), packet.OCFBResync)
	body := append(prefix, lit.Bytes()...)
	stream.XORKeyStream(body[len(prefix):], body[len(prefix):])
	msg.Write([]byte{0xC0 | 9, 0xFF, byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))})
	msg.Write(body)

	r, err := Decrypt(bytes.NewReader(msg.Bytes()), int64(msg.Len()), agency, nil, time.Now().Add(time.Minute))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Reason != ReasonCorrupt || pe.Detail != "unsupported or unprotected message" {
		t.Errorf("message without MDC: %v, want pgp_corrupt, unprotected", err)
	}
}

// TestUnusableSubkeyNamed: a key whose primary is valid but whose only
// encryption subkey expired says which subkey and when, rather than the
// last subkey's state or nothing.
func TestUnusableSubkeyNamed(t *testing.T) {
	k := fastKey(t, "partner")
	if len(k.e.Subkeys) != 1 {
		t.Fatalf("%d subkeys", len(k.e.Subkeys))
	}
	day := uint32(24 * 3600)
	k.e.Subkeys[0].Sig.KeyLifetimeSecs = &day
	later := time.Now().Add(48 * time.Hour)
	err := k.CheckEncrypt(later)
	want := fmt.Sprintf("has no usable encryption key (subkey %016X expired on %s)", k.e.Subkeys[0].PublicKey.KeyId,
		k.e.Subkeys[0].PublicKey.CreationTime.Add(24*time.Hour).UTC().Format(time.DateOnly))
	if !errors.Is(err, ErrKeyUnusable) || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("%v, want …%s", err, want)
	}
	if err := k.CheckSign(later); err != nil {
		t.Errorf("signing (the primary) still usable: %v", err)
	}
}
