package pgp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Reasons a file is rejected whole (Error.Reason).
const (
	// ReasonNotEncryptedToUs: encrypted, but to none of our keys (another
	// recipient, or a passphrase). A security event.
	ReasonNotEncryptedToUs = "pgp_not_encrypted_to_us"
	// ReasonNotEncrypted: an OpenPGP message that is not encrypted (only
	// signed, or plain literal data). A security event.
	ReasonNotEncrypted = "pgp_not_encrypted"
	// ReasonUnsigned: no signature, where one is required. A security event.
	ReasonUnsigned = "pgp_unsigned"
	// ReasonBadSignature: a signature by the partner's key that does not
	// verify (the file was altered), or made with the key expired or
	// revoked. A security event.
	ReasonBadSignature = "pgp_bad_signature"
	// ReasonWrongSigner: signed, but by another key than the partner's
	// (one we do not know, or our own). A security event, and maybe a
	// key the partner rotated (see KeyMismatch).
	ReasonWrongSigner = "pgp_wrong_signer"
	// ReasonCorrupt: not an OpenPGP message, or one damaged or truncated
	// (its integrity check fails).
	ReasonCorrupt = "pgp_corrupt"
	// ReasonTooLarge: a compressed message that decompresses to more than
	// PlaintextLimit of its size (a decompression bomb, or a file far
	// more compressible than claims files are).
	ReasonTooLarge = "pgp_too_large"
)

// PlaintextLimit is the most a compressed message of size bytes may
// decompress to: 64 times its size, and at least 1 GiB. Read before the
// signature can be checked, a message is bounded by what it claims to be
// rather than trusted to end.
func PlaintextLimit(size int64) int64 {
	const factor = 64
	if size > (1<<62)/factor {
		return 1 << 62
	}
	return max(plaintextFloor, factor*size)
}

// plaintextFloor is PlaintextLimit's least: a variable for tests only.
var plaintextFloor int64 = 1 << 30

// ErrRejected is matched (errors.Is) by every *Error.
var ErrRejected = errors.New("pgp: file rejected")

// Error is a message rejected whole. Reason is one of the Reason
// constants; Security says whether it is a security event (a bad or
// missing signature, a message not for us). Its text never holds a byte
// of the message.
type Error struct {
	Reason   string
	Security bool
	Detail   string // what the library said, of the kind of damage only
}

func (e *Error) Error() string {
	s := "pgp: file rejected: " + e.Reason
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// KeyMismatch reports whether the message may be good and the config's
// keys out of date: encrypted to a key other than ours (we rotated
// decrypt_with, or the partner used an old key of ours) or signed by
// another key than require_signature_from (the partner rotated its key).
// Such a file is better kept for ops than rejected.
func (e *Error) KeyMismatch() bool {
	return e.Reason == ReasonNotEncryptedToUs || e.Reason == ReasonWrongSigner
}

// Is reports whether target is ErrRejected.
func (e *Error) Is(target error) bool { return target == ErrRejected }

// Reject returns the *Error for reason.
func reject(reason, detail string) *Error {
	return &Error{Reason: reason, Detail: detail, Security: reason != ReasonCorrupt && reason != ReasonTooLarge}
}

// Reader is a message being decrypted: Read returns the plaintext, which
// is unverified until Read has returned io.EOF. At the end of the message
// Read checks its integrity and, when a signer is required, its signature,
// and returns an *Error in place of io.EOF if either fails: a reader of a
// bad message never sees io.EOF. A caller must therefore keep what it
// made from the plaintext aside (staged, not delivered) until Read
// returned io.EOF, or call Verify.
type Reader struct {
	src      *srcReader
	md       *openpgp.MessageDetails
	from     *Key // nil: no signature required
	err      error
	verified bool
	left     int64 // plaintext still allowed (PlaintextLimit)
}

// Decrypt starts decrypting the message r (binary or ASCII-armored), of
// size bytes (0 if not known), with key, the agency's private key. What
// it decompresses to is bounded by PlaintextLimit(size). An error reading
// r itself (a disk error) is returned as it is, never as an *Error: the
// message was not judged. If from is not nil, the message must be
// signed by from, which must be usable for verification at now. A message
// that is not for key, not encrypted or not OpenPGP at all is refused here
// with an *Error; one whose damage lies further on fails on Read.
func Decrypt(r io.Reader, size int64, key, from *Key, now time.Time) (*Reader, error) {
	if from != nil {
		if err := from.CheckVerify(now); err != nil {
			return nil, err
		}
	}
	src := &srcReader{r: r}
	br := bufio.NewReader(src)
	head, _ := br.Peek(64)
	var in io.Reader = br
	if bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("-----BEGIN PGP")) {
		blk, err := armor.Decode(br)
		if err != nil {
			if src.err != nil {
				return nil, src.failed()
			}
			return nil, reject(ReasonCorrupt, "armor unreadable")
		}
		if blk.Type != "PGP MESSAGE" {
			return nil, reject(ReasonCorrupt, "armor is not a PGP MESSAGE")
		}
		in = blk.Body
	}
	ring := openpgp.EntityList{key.e}
	if from != nil && from.e.PrimaryKey.KeyId != key.e.PrimaryKey.KeyId {
		ring = append(ring, from.e)
	}
	// The library's own bound, with room for the packets around the
	// literal data, is the backstop; Read's count of plaintext against
	// limit is what names the reason (the library's error is lost on
	// its way out of a decrypted stream).
	limit := PlaintextLimit(size)
	backstop := limit + 1<<20
	cfg := &packet.Config{Time: func() time.Time { return now }, MaxDecompressedMessageSize: &backstop}
	md, err := openpgp.ReadMessage(in, ring, nil, cfg)
	if err != nil {
		return nil, src.classify(err)
	}
	if !md.IsEncrypted {
		return nil, reject(ReasonNotEncrypted, "")
	}
	if from != nil && !md.IsSigned {
		return nil, reject(ReasonUnsigned, "")
	}
	return &Reader{src: src, md: md, from: from, left: limit}, nil
}

// srcReader is the message as read, keeping the first error of reading
// it other than io.EOF: a failure of the disk, not of the message.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// failed is the read error, as the error of the decryption.
func (s *srcReader) failed() error { return fmt.Errorf("pgp: read: %w", s.err) }

// classify turns a failure of go-crypto into a file's rejection, unless
// reading the message itself failed. Its text is kept only where it is
// the library's own fixed wording of the damage.
func (s *srcReader) classify(err error) error {
	if s.err != nil {
		return s.failed()
	}
	var ue pgperrors.UnsupportedError
	var se pgperrors.StructuralError
	switch {
	case errors.Is(err, pgperrors.ErrMessageTooLarge):
		return reject(ReasonTooLarge, "decompresses to more than the limit")
	case errors.Is(err, pgperrors.ErrKeyIncorrect):
		return reject(ReasonNotEncryptedToUs, "")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return reject(ReasonCorrupt, "truncated")
	case errors.As(err, &se):
		return reject(ReasonCorrupt, "malformed")
	case errors.As(err, &ue):
		return reject(ReasonCorrupt, "unsupported or unprotected message")
	case errors.Is(err, pgperrors.ErrMDCHashMismatch), errors.Is(err, pgperrors.ErrMDCMissing),
		errors.Is(err, pgperrors.ErrAEADTagVerification):
		return reject(ReasonCorrupt, "integrity check failed")
	}
	return reject(ReasonCorrupt, "cannot be decrypted")
}

// Read reads plaintext. See Reader for what it returns at the end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.verified {
		return 0, io.EOF
	}
	n, err := r.md.UnverifiedBody.Read(p)
	if r.left -= int64(n); r.left < 0 {
		r.err = reject(ReasonTooLarge, "decompresses to more than the limit")
		return 0, r.err
	}
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if r.src.err != nil {
			r.err = r.src.failed()
			return n, r.err
		}
		if verr := r.check(); verr != nil {
			r.err = verr
			return n, verr
		}
		r.verified = true
		return n, io.EOF
	default:
		r.err = r.src.classify(err)
		return n, r.err
	}
}

// check judges the signature once the body was read to its end.
func (r *Reader) check() error {
	md := r.md
	if r.from == nil {
		return nil
	}
	switch {
	case !md.IsSigned:
		return reject(ReasonUnsigned, "")
	case md.SignedBy == nil || md.SignedBy.Entity == nil:
		return reject(ReasonWrongSigner, "signed by a key we do not know")
	case md.SignedBy.Entity.PrimaryKey.KeyId != r.from.e.PrimaryKey.KeyId:
		return reject(ReasonWrongSigner, "signed by another key")
	case md.SignatureError != nil:
		if errors.Is(md.SignatureError, pgperrors.ErrKeyExpired) || errors.Is(md.SignatureError, pgperrors.ErrSignatureExpired) ||
			errors.Is(md.SignatureError, pgperrors.ErrKeyRevoked) {
			return reject(ReasonBadSignature, "signed with an expired or revoked key")
		}
		return reject(ReasonBadSignature, "signature does not verify")
	case md.Signature == nil:
		return reject(ReasonBadSignature, "no matching signature")
	}
	return nil
}

// Verify reads what is left of the message and returns nil only if it
// was read whole and its integrity and required signature hold.
func (r *Reader) Verify() error {
	if r.verified {
		return nil
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if !r.verified {
		return fmt.Errorf("pgp: message not verified")
	}
	return nil
}

// SignedBy returns the ID of the key that signed the message, once
// verified, or "".
func (r *Reader) SignedBy() string {
	if !r.verified || r.md.SignedBy == nil || r.md.SignedBy.Entity == nil {
		return ""
	}
	return (&Key{e: r.md.SignedBy.Entity}).ID()
}
