package exchange

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
)

// ErrDestinationTaken is returned when a destination already holds a file
// under the final name. Nothing is overwritten: the upload waits under its
// temporary name and the rename is tried again next run, once the partner
// has taken its earlier file.
var ErrDestinationTaken = errors.New("exchange: destination already has a file of that name")

// output returns the staged name that destination i receives.
func (rn *run) output(f *ledger.File, i int) string {
	if rn.job.Transform == nil {
		return f.Name // files pass unchanged: every destination gets the staged copy
	}
	// Named by what it was made for (hidden, so that no source name can
	// collide with it): if the job's destinations change between prepare
	// and delivery, the output is not found rather than sent elsewhere.
	d := rn.job.Destinations[i]
	return fmt.Sprintf(".out-%d-%s-%s.csv", i, d.Partner, rn.cfg.ProfileFor(rn.job, d))
}

// ErrDestinationChanged is returned when a delivery under way was begun
// for another partner or directory than the job now names at its index
// (the config was reloaded in between). Nothing is sent; the file stays
// staged for ops to resolve.
var ErrDestinationChanged = errors.New("exchange: destination changed since the delivery began")

// deliverAll delivers f to every destination that does not have it yet.
// A destination that fails does not stop the others; f stays staged until
// every one has it.
func (rn *run) deliverAll(ctx context.Context, f *ledger.File) error {
	dels, err := rn.ledger.Deliveries(f.ID)
	if err != nil {
		return err
	}
	have := map[int]*ledger.Delivery{}
	for i := range dels {
		have[dels[i].Index] = &dels[i]
	}
	var errs []error
	for i, dest := range rn.job.Destinations {
		if err := rn.deliver(ctx, f, i, dest, have[i]); err != nil {
			if fatal(err) {
				return err
			}
			errs = append(errs, &deliveryError{Partner: dest.Partner, what: fmt.Sprintf("destination %d", i), err: err})
		}
	}
	if rn.job.Rejects != nil {
		// Only a report certainly absent is none to deliver: a file is
		// not done while its report may stand undelivered.
		if _, err := os.Stat(rn.staging.Path(f.ID, rejectsName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &deliveryError{Partner: rn.job.Rejects.Partner, what: "reject report", err: err})
		} else if err == nil {
			if err := rn.deliver(ctx, f, rejectsIndex, rn.job.Rejects, have[rejectsIndex]); err != nil {
				if fatal(err) {
					return err
				}
				errs = append(errs, &deliveryError{Partner: rn.job.Rejects.Partner, what: "reject report", err: err})
			}
		}
	}
	return errors.Join(errs...)
}

// deliveryError is the failure of one destination of a file.
type deliveryError struct {
	Partner string // the destination's partner
	what    string
	err     error
}

func (e *deliveryError) Error() string { return fmt.Sprintf("%s (%s): %v", e.what, e.Partner, e.err) }
func (e *deliveryError) Unwrap() error { return e.err }

// failedDestinations returns the partners of the destinations that err
// (from deliverAll) names as failed, each once.
func failedDestinations(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if d, ok := err.(*deliveryError); ok {
			if !slices.Contains(out, d.Partner) {
				out = append(out, d.Partner)
			}
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// deliver takes one output of f to one destination: upload under a
// temporary name (recorded first), size check, record "uploaded", rename
// to the final name, sidecars, record "delivered". Resuming a delivery
// after a crash uses those records to neither lose nor repeat it.
func (rn *run) deliver(ctx context.Context, f *ledger.File, i int, dest *config.Destination, d *ledger.Delivery) error {
	if d != nil && d.State == ledger.DeliveryDelivered {
		return nil
	}
	if d != nil && (d.Partner != dest.Partner || d.Dir != dest.Dir) {
		return Permanent(fmt.Errorf("%w: delivery %d began for %s:%s, the job now names %s:%s",
			ErrDestinationChanged, d.ID, d.Partner, d.Dir, dest.Partner, dest.Dir))
	}
	if rn.job.Transform != nil && i != rejectsIndex {
		// The privacy rule once more, just before the file leaves.
		if _, err := profileFor(rn.cfg, rn.job, dest); err != nil {
			return err
		}
	}
	start := rn.Now()
	ep, err := rn.endpoint(dest.Partner)
	if err != nil {
		return err
	}
	local, name := rejectsName, reportName(f.Name)
	if i != rejectsIndex {
		local, name = rn.output(f, i), f.Name
	}
	lf, err := rn.staging.Open(f.ID, local)
	if err != nil {
		return err
	}
	defer lf.Close()
	st, err := lf.Stat()
	if err != nil {
		return err
	}
	fresh := d == nil
	if fresh {
		sum := f.SHA256 // files that pass unchanged are the staged copy
		if rn.job.Transform != nil {
			if sum, err = hashFile(lf); err != nil {
				return err
			}
		}
		d = &ledger.Delivery{FileID: f.ID, Index: i, Partner: dest.Partner, Dir: dest.Dir, Name: name,
			TempName: tempName(name), Size: st.Size(), SHA256: sum}
		if d.ID, err = rn.ledger.StartDelivery(d); err != nil {
			return err
		}
		d.State = ledger.DeliveryStarted
	}
	tmp, final := join(dest.Dir, d.TempName), join(dest.Dir, d.Name)
	l := rn.log.With(zap.String("partner", dest.Partner), zap.String("endpoint", ep.String()),
		zap.String("file", final))

	uploaded := false // by this call: the temp file stands, complete
	if d.State == ledger.DeliveryStarted {
		// A delivery begun by an earlier run may have left a partial
		// file under its temp name; a new one has a fresh random name.
		if !fresh {
			if err := ep.Remove(ctx, tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if err := rn.upload(ctx, ep, lf, tmp, st.Size()); err != nil {
			return err
		}
		if err := rn.ledger.MarkUploaded(d.ID); err != nil {
			return err
		}
		d.State, uploaded = ledger.DeliveryUploaded, true
		failpoint("uploaded")
	}
	// Uploaded: the temp file is complete. If it is gone, our rename
	// happened before a crash and the partner may already have taken it.
	var gone error
	if !uploaded {
		_, gone = ep.Stat(ctx, tmp)
	}
	if gone == nil {
		if err := ep.Rename(ctx, tmp, final); err != nil {
			if errors.Is(err, ErrExists) {
				l.Warn("delivery waiting", zap.String("outcome", "taken"),
					zap.String("error", ErrDestinationTaken.Error()))
				return fmt.Errorf("%w: %s", ErrDestinationTaken, final)
			}
			return err
		}
		failpoint("renamed")
	} else if !errors.Is(gone, fs.ErrNotExist) {
		return gone
	} else if fi, err := ep.Stat(ctx, final); err == nil && fi.Size == d.Size {
		l.Info("delivery resumed", zap.String("outcome", "renamed before restart"))
	} else {
		// The temp file is gone and the final name does not show it: the
		// partner took the file already, or something removed our temp
		// file. Recorded as delivered, loudly, for ops to confirm.
		l.Warn("delivery unverified", zap.String("outcome", "unverified"),
			zap.String("error", "temporary file gone and final name absent or of another size after a restart"))
	}
	if err := rn.sidecars(ctx, ep, dest, final, d, lf); err != nil {
		return err
	}
	if err := rn.ledger.MarkDelivered(d.ID, st.Size(), d.SHA256, rn.Now()); err != nil {
		return err
	}
	rn.tally(func(r *Result) { r.Delivered++ })
	dur := rn.Now().Sub(start)
	l.Info("file delivered", zap.Int64("bytes", st.Size()), zap.String("sha256", d.SHA256),
		zap.Duration("duration", dur), zap.String("outcome", "delivered"))
	rn.observe(Event{Job: rn.job.Name, Partner: dest.Partner, Step: "deliver", Outcome: "ok", Bytes: st.Size(), Duration: dur})
	failpoint("delivered")
	return nil
}

// upload writes r to tmp (created exclusively), syncs, and checks the size
// the server reports. On any failure the temp file is removed, so that no
// short file can later pass for a whole one.
func (rn *run) upload(ctx context.Context, ep Endpoint, r io.ReadSeeker, tmp string, size int64) error {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w, err := ep.Create(ctx, tmp)
	if err != nil {
		return err
	}
	n, err := copyContext(ctx, w, crashReader(r, size))
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("%w: wrote %d of %d bytes", ErrSizeMismatch, n, size)
	}
	if err == nil {
		var fi FileInfo
		if fi, err = ep.Stat(ctx, tmp); err == nil && fi.Size != size {
			err = fmt.Errorf("%w: server has %d of %d bytes", ErrSizeMismatch, fi.Size, size)
		}
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = ep.Remove(rctx, tmp)
		return fmt.Errorf("upload %s: %w", tmp, err)
	}
	return nil
}

// sidecars writes the optional checksum file and, last, the done marker,
// each only if missing, so that resuming after a crash repeats nothing.
// They are written only while the delivered file still stands.
func (rn *run) sidecars(ctx context.Context, ep Endpoint, dest *config.Destination, final string, d *ledger.Delivery, lf io.ReadSeeker) error {
	if !dest.Checksum && dest.DoneMarker == "" {
		return nil
	}
	if _, err := ep.Stat(ctx, final); errors.Is(err, fs.ErrNotExist) {
		// Taken by the partner already: no sidecars, and none of ours
		// half-written by a crash left behind.
		if dest.Checksum {
			_ = ep.Remove(ctx, sidecarTemp(final+".sha256", d.ID))
		}
		if dest.DoneMarker != "" {
			_ = ep.Remove(ctx, sidecarTemp(final+dest.DoneMarker, d.ID))
		}
		return nil
	}
	if dest.Checksum {
		if err := rn.putSmall(ctx, ep, final+".sha256", d.ID, []byte(d.SHA256+"  "+d.Name+"\n")); err != nil {
			return err
		}
	}
	if dest.DoneMarker != "" {
		if err := rn.putSmall(ctx, ep, final+dest.DoneMarker, d.ID, nil); err != nil {
			return err
		}
	}
	return nil
}

// putSmall writes a small file of delivery id through a temp name, unless
// it exists. The temp name is the delivery's own, so that a resumed
// delivery replaces what a crash left under it instead of leaving it.
func (rn *run) putSmall(ctx context.Context, ep Endpoint, p string, id int64, data []byte) error {
	if _, err := ep.Stat(ctx, p); err == nil {
		return nil
	}
	tmp := sidecarTemp(p, id)
	w, err := ep.Create(ctx, tmp)
	if errors.Is(err, ErrExists) { // left by a crash: ours, and maybe partial
		if err = ep.Remove(ctx, tmp); err == nil {
			w, err = ep.Create(ctx, tmp)
		}
	}
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ep.Rename(ctx, tmp, p)
		if errors.Is(err, ErrExists) {
			_ = ep.Remove(ctx, tmp) // written meanwhile: theirs or ours, it stands
			err = nil
		}
	}
	if err != nil {
		_ = ep.Remove(ctx, tmp)
	}
	return err
}

// sidecarTemp is the temp name of sidecar p of delivery id: its own, so
// that what a crash left under it is found again.
func sidecarTemp(p string, id int64) string {
	dir, name := path.Split(p)
	return join(dir, fmt.Sprintf(".%s.%d-sidecar.part", name, id))
}

// hashFile returns the hex sha256 of f's contents and rewinds it.
func hashFile(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// tempName returns a hidden, unique name beside name: partners' pickup
// patterns do not match it, and it never collides with a stale one.
func tempName(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "." + name + "." + hex.EncodeToString(b[:]) + ".part"
}

// copyContext copies like io.Copy (keeping its ReaderFrom and WriterTo fast
// paths, which pkg/sftp uses for concurrent transfers) and stops when ctx
// ends by closing both sides.
func copyContext(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	stop := context.AfterFunc(ctx, func() {
		for _, side := range []any{r, w} {
			switch c := side.(type) {
			case interface{ Abort() }: // an SFTP file: Close would wait for the transfer
				c.Abort()
			case io.Closer:
				c.Close()
			}
		}
	})
	n, err := io.Copy(w, r)
	if !stop() {
		return n, ctx.Err() // cancelled: both sides were closed under the copy
	}
	return n, err
}

// crashReader, under the "uploading" failpoint, kills the process halfway
// through an upload, leaving a partial temp file at the destination.
func crashReader(r io.Reader, size int64) io.Reader {
	if crashAt != "uploading" {
		return r
	}
	return &halfReader{r: r, left: size / 2}
}

type halfReader struct {
	r    io.Reader
	left int64
}

func (h *halfReader) Read(p []byte) (int, error) {
	if h.left <= 0 {
		failpoint("uploading")
	}
	if int64(len(p)) > h.left && h.left > 0 {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= int64(n)
	return n, err
}
