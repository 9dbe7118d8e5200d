package exchange

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
)

// refusal is a new file at the source that discover refused.
type refusal struct {
	fi       endpoint.FileInfo
	endpoint string
	err      error
}

// refuse reports a file refused when seen: an error event, counted in the
// run's result, and the file left at the source untouched and unrecorded,
// so that it is looked at again on every run (and taken once renamed, or
// once the job's destinations allow its name).
func (rn *run) refuse(r refusal) {
	src := rn.job.Source
	rn.log.Error("file refused", zap.String("partner", src.Partner), zap.String("endpoint", r.endpoint),
		zap.String("file", r.fi.Name), zap.Int("name_bytes", len(r.fi.Name)), zap.Int64("bytes", r.fi.Size),
		zap.String("step", "seen"), zap.String("outcome", "refused"), zap.String("error", r.err.Error()))
	rn.tally(func(res *Result) { res.Refused++ })
	rn.observe(Event{Job: rn.job.Name, Partner: src.Partner, Step: "seen", Outcome: "refused"})
}

// deliverable returns an error wrapping ErrNameTooLong, naming the
// destination, if a name that job j would write for the source file name
// is longer than endpoint.MaxName bytes: the name itself at each destination, or
// its reject report's, each with the destination's done marker or
// checksum sidecar added. Temporary names do not grow with the name and
// are not counted.
func deliverable(j *config.Job, name string) error {
	check := func(what string, d *config.Destination, final, as string) error {
		longest, suffix := len(final), ""
		if m := d.DoneMarker; m != "" && len(final)+len(m) > longest {
			longest, suffix = len(final)+len(m), fmt.Sprintf(" with its done marker %q", m)
		}
		if d.Checksum && len(final)+len(checksumSuffix) > longest {
			longest, suffix = len(final)+len(checksumSuffix), fmt.Sprintf(" with its checksum sidecar %q", checksumSuffix)
		}
		if longest <= endpoint.MaxName {
			return nil
		}
		return fmt.Errorf("%w: %s (%s:%s) would get %s of %d bytes%s: %d bytes, more than %d",
			ErrNameTooLong, what, d.Partner, d.Dir, as, len(final), suffix, longest, endpoint.MaxName)
	}
	for i, d := range j.Destinations {
		if err := check(fmt.Sprintf("destination %d", i), d, deliveredName(j, d, name), "the name"); err != nil {
			return err
		}
	}
	if j.Transform != nil && j.Rejects != nil {
		if err := check("the reject report destination", j.Rejects, reportName(plainName(j, name)), "its reject report's name"); err != nil {
			return err
		}
	}
	return nil
}

// checksumSuffix ends the name of a delivered file's checksum sidecar.
const checksumSuffix = ".sha256"
