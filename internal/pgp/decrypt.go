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
	// ReasonBadSignature: a signature that does not verify, or one made by
	// another key than the partner's. A security event.
	ReasonBadSignature = "pgp_bad_signature"
	// ReasonCorrupt: not an OpenPGP message, or one damaged or truncated
	// (its integrity check fails).
	ReasonCorrupt = "pgp_corrupt"
)

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

// Is reports whether target is ErrRejected.
func (e *Error) Is(target error) bool { return target == ErrRejected }

// Reject returns the *Error for reason.
func reject(reason, detail string) *Error {
	return &Error{Reason: reason, Detail: detail, Security: reason != ReasonCorrupt}
}

// Reader is a message being decrypted: Read returns the plaintext, which
// is unverified until Read has returned io.EOF. At the end of the message
// Read checks its integrity and, when a signer is required, its signature,
// and returns an *Error in place of io.EOF if either fails: a reader of a
// bad message never sees io.EOF. A caller must therefore keep what it
// made from the plaintext aside (staged, not delivered) until Read
// returned io.EOF, or call Verify.
type Reader struct {
	md       *openpgp.MessageDetails
	from     *Key // nil: no signature required
	err      error
	verified bool
}

// Decrypt starts decrypting the message r (binary or ASCII-armored) with
// key, the agency's private key. If from is not nil, the message must be
// signed by from, which must be usable for verification at now. A message
// that is not for key, not encrypted or not OpenPGP at all is refused here
// with an *Error; one whose damage lies further on fails on Read.
func Decrypt(r io.Reader, key, from *Key, now time.Time) (*Reader, error) {
	if from != nil {
		if err := from.CheckVerify(now); err != nil {
			return nil, err
		}
	}
	br := bufio.NewReader(r)
	head, _ := br.Peek(64)
	var in io.Reader = br
	if bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("-----BEGIN PGP")) {
		blk, err := armor.Decode(br)
		if err != nil {
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
	cfg := &packet.Config{Time: func() time.Time { return now }}
	md, err := openpgp.ReadMessage(in, ring, nil, cfg)
	if err != nil {
		return nil, classify(err)
	}
	if !md.IsEncrypted {
		return nil, reject(ReasonNotEncrypted, "")
	}
	if from != nil && !md.IsSigned {
		return nil, reject(ReasonUnsigned, "")
	}
	return &Reader{md: md, from: from}, nil
}

// classify turns a failure of go-crypto into a file's rejection. Its text
// is kept only where it is the library's own fixed wording of the damage.
func classify(err error) error {
	var ue pgperrors.UnsupportedError
	var se pgperrors.StructuralError
	switch {
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
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if verr := r.check(); verr != nil {
			r.err = verr
			return n, verr
		}
		r.verified = true
		return n, io.EOF
	default:
		r.err = classify(err)
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
		return reject(ReasonBadSignature, "signed by another key")
	case md.SignedBy.Entity.PrimaryKey.KeyId != r.from.e.PrimaryKey.KeyId:
		return reject(ReasonBadSignature, "signed by another key")
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
