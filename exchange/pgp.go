package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/internal/pgp"
	"github.com/exchanged/exchanged/ledger"
	"github.com/exchanged/exchanged/transform"
)

// OpenPGP with partners (see "OpenPGP" in docs/config.md). Encryption and
// decryption happen where a destination's output is made into staging
// (prepare, or preparePlain for a job without a transform), never while
// a file is delivered: a resumed delivery sends the very bytes recorded,
// encrypted once under one random session key, and the sha256 and size
// recorded are those of the file delivered. A file from a partner is
// decrypted into the outputs, which stand only once its signature was
// verified at its end; a file that fails is rejected whole and nothing of
// it is delivered.

// needsOutput reports whether destination d of job j gets an output of
// its own in a job without a transform: when the file is decrypted from
// the source, or encrypted to d. Otherwise d gets the staged copy itself.
func needsOutput(j *config.Job, d *config.Destination) bool {
	return j.Source.PGP != nil || d.PGP != nil
}

// deliveredName returns the name under which destination d of job j
// receives the source file name: without its .pgp/.gpg/.asc if the source
// decrypts it, with d's extension if d encrypts it.
func deliveredName(j *config.Job, d *config.Destination, name string) string {
	if j.Source.PGP != nil {
		name = config.PlainName(name)
	}
	if d != nil && d.PGP != nil {
		name += d.PGP.Ext()
	}
	return name
}

// DeliveredName returns the name under which destination i of job j now
// receives the file staged from source name name.
func DeliveredName(j *config.Job, i int, name string) string {
	return deliveredName(j, j.Destinations[i], name)
}

// plainName is the source name without an OpenPGP extension the job's
// source decrypts away: the name the reject report is named after.
func plainName(j *config.Job, name string) string {
	if j.Source.PGP != nil {
		return config.PlainName(name)
	}
	return name
}

// encryptTo wraps the staged output st of destination d in encryption to
// d's partner, if d asks for it; close finishes the message (before the
// output is committed). Keys are checked usable now: a partner key that
// expired since the config was read fails the file, permanently, until
// the key is renewed.
func (rn *run) encryptTo(d *config.Destination, st io.Writer) (w io.Writer, close func() error, err error) {
	if d.PGP == nil {
		return st, func() error { return nil }, nil
	}
	to, signer, err := d.PGP.Keys(rn.Now()) // parsed once per config, checked usable now
	if err != nil {
		return nil, nil, endpoint.Permanent(fmt.Errorf("exchange: destination %s: pgp %w", d.Partner, err))
	}
	enc, err := pgp.Encrypt(st, to, signer, d.PGP.Armored(), rn.Now())
	if err != nil {
		return nil, nil, endpoint.Permanent(fmt.Errorf("exchange: destination %s: %w", d.Partner, err))
	}
	return enc, enc.Close, nil
}

// decryptFrom starts decrypting the staged copy in, if the job's source
// asks for it; else it returns in, and a verify that has nothing to do. A
// message refused at once is returned as a *pgp.Error (see rejectPGP).
func (rn *run) decryptFrom(in io.Reader, size int64) (r io.Reader, verify func() error, err error) {
	src := rn.job.Source
	if src.PGP == nil {
		return in, func() error { return nil }, nil
	}
	key, from, err := src.PGP.Keys(rn.Now()) // parsed once per config, checked usable now
	if err != nil {
		return nil, nil, endpoint.Permanent(fmt.Errorf("exchange: source %s: pgp %w", src.Partner, err))
	}
	dec, err := pgp.Decrypt(in, size, key, from, rn.Now())
	if errors.Is(err, pgp.ErrKeyUnusable) {
		return nil, nil, endpoint.Permanent(fmt.Errorf("exchange: source %s: pgp require_signature_from: %w", src.Partner, err))
	}
	if err != nil {
		return nil, nil, err
	}
	return dec, dec.Verify, nil
}

// preparePlain makes the outputs of a job without a transform whose
// files are decrypted from the source or encrypted to a destination: the
// staged copy, decrypted if asked, written to each destination that needs
// an output of its own, encrypted to it if asked. Like prepare, it leaves
// nothing half-made, and a file that fails decryption is rejected whole.
func (rn *run) preparePlain(ctx context.Context, f *ledger.File) error {
	var idx []int
	for i, d := range rn.job.Destinations {
		if needsOutput(rn.job, d) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	if _, err := os.Stat(rn.staging.Path(f.ID, f.Name)); errors.Is(err, fs.ErrNotExist) {
		if rn.staging.Rejected(f.ID) {
			return rn.finishRejection(ctx, f)
		}
		return endpoint.Permanent(fmt.Errorf("exchange: the staged copy of file %d is missing", f.ID))
	}
	o := &outputs{}
	defer o.abort()
	var ws []io.Writer
	for _, i := range idx {
		st, err := rn.staging.Create(f.ID, rn.output(f, i))
		if err != nil {
			return err
		}
		o.staged = append(o.staged, st)
		w, closeEnc, err := rn.encryptTo(rn.job.Destinations[i], st)
		if err != nil {
			return err
		}
		o.closers = append(o.closers, closeEnc)
		ws = append(ws, w)
	}
	in, err := rn.staging.Open(f.ID, f.Name)
	if err != nil {
		return err
	}
	defer in.Close()
	r, verify, err := rn.decryptFrom(in, f.Size)
	if err == nil {
		_, err = copyContext(ctx, io.MultiWriter(ws...), r, func() { in.Close() })
	}
	if err == nil {
		err = verify()
	}
	if errors.Is(err, pgp.ErrRejected) {
		return rn.rejectPGP(ctx, f, o, err)
	}
	if err != nil {
		return err
	}
	if err := o.commit(false); err != nil {
		return err
	}
	rn.fileLog(f).Info("file prepared", zap.String("outcome", "prepared"), zap.Bool("decrypted", rn.job.Source.PGP != nil),
		zap.Int("encrypted", len(o.closers)))
	return nil
}

// rejectPGP rejects f whole for err, a *pgp.Error: its outputs, made from
// plaintext not verified, are discarded (the reject report's rows with
// them: they may be forged), a report of the one file-level reason is
// staged if the job has a rejects destination, then its staged copy
// goes, and the report is delivered. A bad or missing signature and a
// message not for us are security events.
//
// A file whose keys do not match the config's (pgp.Error.KeyMismatch:
// encrypted to another key of ours, signed by another key of the
// partner's) may well be good and the config out of date: it is not
// rejected but fails permanently, kept staged (encrypted at rest) for ops
// to update the key and retry it, or abandon it.
func (rn *run) rejectPGP(ctx context.Context, f *ledger.File, o *outputs, err error) error {
	o.abort()
	var pe *pgp.Error
	errors.As(err, &pe)
	if pe.KeyMismatch() {
		return endpoint.Permanent(fmt.Errorf("%w; the file stays pending: if a key changed, update it in the config (decrypt_with, require_signature_from) and then \"exchanged files retry %d\", else \"exchanged files abandon %d --reason ...\"",
			err, f.ID, f.ID))
	}
	l := rn.fileLog(f)
	l.Error("file rejected", zap.Bool("security", pe.Security), zap.String("reason", pe.Reason),
		zap.String("outcome", "rejected"), zap.String("error", err.Error()))
	rn.observe(Event{Job: rn.job.Name, Partner: f.Partner, Step: "transform", Outcome: "rejected"})
	if err := rn.staging.MarkRejected(f.ID); err != nil {
		return err
	}
	if rn.job.Rejects != nil {
		// Staged before the staged copy goes: a crash in between leaves a
		// rejection in progress with its report (see finishRejection).
		if err := rn.stageReasonReport(f, pe.Reason); err != nil {
			l.Error("reject report lost", zap.String("outcome", "failed"), zap.String("error", err.Error()))
		}
	}
	if err := os.Remove(rn.staging.Path(f.ID, f.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_ = syncDir(rn.staging.Dir())
	return rn.finishRejection(ctx, f)
}

// stageReasonReport stages a reject report of one file-level reason, in
// the transform's report format.
func (rn *run) stageReasonReport(f *ledger.File, reason string) (err error) {
	st, err := rn.staging.Create(f.ID, rejectsName)
	if err != nil {
		return err
	}
	defer st.Abort()
	e := pgpExplained[reason]
	if err := transform.WriteFileReport(st, reason, e[0], e[1]); err != nil {
		return err
	}
	_, _, err = st.Commit()
	return err
}

// pgpExplained is what each reason of an OpenPGP rejection expected, in
// Dutch and English, for the creditor's reject report.
var pgpExplained = map[string][2]string{
	pgp.ReasonUnsigned: {"verwacht een bestand ondertekend met uw OpenPGP-sleutel",
		"expected a file signed with your OpenPGP key"},
	pgp.ReasonBadSignature: {"verwacht een geldige handtekening: het bestand is na ondertekening gewijzigd, of de sleutel is verlopen of ingetrokken",
		"expected a valid signature: the file was changed after it was signed, or the key has expired or was revoked"},
	pgp.ReasonNotEncrypted: {"verwacht een bestand versleuteld met onze OpenPGP-sleutel",
		"expected a file encrypted with our OpenPGP key"},
	pgp.ReasonCorrupt: {"verwacht een volledig, onbeschadigd OpenPGP-bericht",
		"expected a complete, undamaged OpenPGP message"},
	pgp.ReasonTooLarge: {"verwacht een bestand dat uitgepakt niet groter is dan 64 keer zichzelf (met een minimum van 1 GiB)",
		"expected a file that decompresses to at most 64 times its size (and at least 1 GiB is allowed)"},
}
