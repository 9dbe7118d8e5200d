package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/internal/ops"
	"github.com/exchanged/exchanged/ledger"
)

// fileOps lists, retries and abandons stuck files on one ledger under one
// config: what "exchanged files" does, on the ledger itself when no daemon
// runs, or inside the daemon when its ops endpoint is asked. The caller
// makes sure no run is moving the file meanwhile (the state_dir lock, or
// the daemon's job gate).
type fileOps struct {
	cfg    *config.Config
	ledger *ledger.Ledger
	log    *zap.Logger
	now    func() time.Time
}

// fileRow is one file not done, as "exchanged files" shows it: no
// personal data (the last error is what ledger.Fail recorded, the text
// the "file failed" event logged).
type fileRow struct {
	ID         int64     `json:"id"`
	Job        string    `json:"job"`
	Partner    string    `json:"partner"`
	Dir        string    `json:"dir"`
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Step       string    `json:"step"` // the step it waits for
	Failed     bool      `json:"failed"`
	Attempts   int       `json:"attempts"`
	SeenAt     time.Time `json:"seen_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	AgeSeconds int64     `json:"age_seconds"`
	Error      string    `json:"error,omitempty"`
}

// nextStep names the step a pending file in state waits for.
func nextStep(state string) string {
	switch state {
	case ledger.StateStaging:
		return "stage"
	case ledger.StateStaged:
		return "clean"
	case ledger.StateCleaned:
		return "transform"
	case ledger.StateTransformed:
		return "deliver"
	}
	return state
}

func (o *fileOps) row(f ledger.File) fileRow {
	return fileRow{ID: f.ID, Job: f.Job, Partner: f.Partner, Dir: f.Dir, Name: f.Name, State: f.State,
		Step: nextStep(f.State), Failed: f.Attempts > 0, Attempts: f.Attempts, SeenAt: f.SeenAt.UTC(),
		UpdatedAt: f.UpdatedAt.UTC(), AgeSeconds: int64(o.now().Sub(f.SeenAt).Seconds()), Error: f.Error}
}

// list returns the files not done, of job if not "", by state ("",
// "pending" or "failed").
func (o *fileOps) list(job, state string) ([]fileRow, error) {
	if state != "" && state != "pending" && state != "failed" {
		return nil, fmt.Errorf("%w: --state %q: want pending or failed", ops.ErrInvalid, state)
	}
	fs, err := o.ledger.Stuck(job, state)
	if err != nil {
		return nil, err
	}
	out := []fileRow{}
	for _, f := range fs {
		out = append(out, o.row(f))
	}
	return out, nil
}

// oldDelivery is a delivery that was begun and not delivered: what its
// destination may hold.
type oldDelivery struct {
	DeliveryID int64  `json:"delivery_id"`
	Index      int    `json:"index"` // -1: the reject report
	Partner    string `json:"partner"`
	Dir        string `json:"dir"`
	Name       string `json:"name"`
	TempName   string `json:"temp_name,omitempty"`
	Mode       string `json:"mode"`
	State      string `json:"state"`
	MayHold    string `json:"may_hold"`
	// Breach: the command that lists what the old partner may hold, set
	// when it is not the partner the job now names and bytes may have
	// left (see mayHaveLeft): a possible data breach.
	Breach string `json:"breach,omitempty"`
}

// mayHaveLeft reports whether bytes of delivery d may stand at its
// destination: a direct delivery, or one past the start of its upload.
func mayHaveLeft(d ledger.Delivery) bool {
	return d.Mode == ledger.ModeDirect || d.State == ledger.DeliveryCreating ||
		d.State == ledger.DeliveryWriting || d.State == ledger.DeliveryUploaded
}

// breachHint returns the breach command for superseded delivery d of a
// job whose destinations are now dests, or "" if d's partner is still
// one of the job's destinations (at any index), or no byte can have left.
func breachHint(d ledger.Delivery, dests []ledger.Destination) string {
	for _, c := range dests {
		if c.Partner == d.Partner {
			return ""
		}
	}
	if !mayHaveLeft(d) {
		return ""
	}
	return "exchanged breach --partner " + d.Partner + " --file " + d.Name
}

func oldDeliveries(ds []ledger.Delivery) []oldDelivery {
	out := []oldDelivery{}
	for _, d := range ds {
		out = append(out, oldDelivery{DeliveryID: d.ID, Index: d.Index, Partner: d.Partner, Dir: d.Dir,
			Name: d.Name, TempName: d.TempName, Mode: d.Mode, State: d.State, MayHold: ledger.MayHold(d)})
	}
	return out
}

// actionReport is what a retry or an abandon did, for the operator.
type actionReport struct {
	Action   string  `json:"action"`
	ActionID int64   `json:"action_id"`
	File     fileRow `json:"file"` // as it stood before
	By       string  `json:"by"`
	// Superseded (retry): the deliveries begun for a destination the job
	// no longer names, given up for a fresh one; Open (abandon): those
	// begun and not delivered. Each is what its destination may hold:
	// ask the partner to remove it.
	Superseded []oldDelivery `json:"superseded,omitempty"`
	Open       []oldDelivery `json:"open_deliveries,omitempty"`
	Staging    []string      `json:"staging_removed,omitempty"` // abandon: what was removed, relative to state_dir/staging
	StagingErr string        `json:"staging_error,omitempty"`   // abandon: the removal failed; the next start sweeps it
	Source     string        `json:"source,omitempty"`          // abandon: where the source file is
	Warnings   []string      `json:"warnings,omitempty"`        // retry: why the next run may still not deliver it
	Next       string        `json:"next"`                      // what happens now
}

// jobDestinations returns where job now sends each output of the file
// staged from source name name, and under what name; -1 its
// reject report.
func jobDestinations(j *config.Job, name string) []ledger.Destination {
	var out []ledger.Destination
	for i, d := range j.Destinations {
		out = append(out, ledger.Destination{Index: i, Partner: d.Partner, Dir: d.Dir, Name: exchange.DeliveredName(j, i, name)})
	}
	if j.Rejects != nil {
		out = append(out, ledger.Destination{Index: -1, Partner: j.Rejects.Partner, Dir: j.Rejects.Dir})
	}
	return out
}

// file returns file id, pending, with its job in the config.
func (o *fileOps) file(id int64) (*ledger.File, *config.Job, error) {
	f, err := o.ledger.File(id)
	if err != nil {
		return nil, nil, err
	}
	if f.State == ledger.StateDone || f.State == ledger.StateRejected {
		how := "it is done"
		if f.State == ledger.StateRejected {
			how = "it was rejected or abandoned; to have it taken again, drop it again at the source (a new modification time) or under another name"
		}
		return nil, nil, fmt.Errorf("file %d is not stuck: %s: %w", id, how, ledger.ErrState)
	}
	return f, o.cfg.Jobs[f.Job], nil
}

// retry has file id taken again under the current config.
// Unless force, it is refused (nothing changed) when the next run
// cannot deliver the file (see missingOutputs).
func (o *fileOps) retry(id int64, by, reason string, force bool) (*actionReport, error) {
	f, job, err := o.file(id)
	if err != nil {
		return nil, err
	}
	if job == nil {
		return nil, fmt.Errorf("file %d: its job %s is not in the config: put it back, or abandon the file: %w", id, f.Job, ops.ErrInvalid)
	}
	dests := jobDestinations(job, f.Name)
	if !force {
		cur, err := o.ledger.Deliveries(id)
		if err != nil {
			return nil, err
		}
		sup := toSupersede(cur, dests)
		if miss := append(o.missingOutputs(f, job, sup), twiceAtPartner(sup, dests)...); len(miss) > 0 {
			return nil, fmt.Errorf("file %d: not retried: %s (--force retries all the same): %w",
				id, strings.Join(miss, "; "), ledger.ErrState)
		}
	}
	res, err := o.ledger.Retry(id, dests, by, reason)
	if err != nil {
		return nil, err
	}
	rep := &actionReport{Action: ledger.ActionRetry, ActionID: res.Action.ID, File: o.row(*f), By: by,
		Superseded: oldDeliveries(res.Superseded),
		Next:       "failures cleared: the next run of " + f.Job + " takes the file"}
	if len(res.Superseded) > 0 {
		rep.Next += ", with a fresh delivery to the destination the job now names"
	}
	rep.Warnings = o.missingOutputs(f, job, res.Superseded)
	o.logAction(f, res.Action, reason, zap.Int("superseded", len(res.Superseded)))
	for _, w := range rep.Warnings {
		o.log.Warn("retry cannot deliver", zap.String("job", f.Job), zap.Int64("file_id", f.ID), zap.String("error", w))
	}
	for _, w := range twiceAtPartner(res.Superseded, dests) {
		rep.Warnings = append(rep.Warnings, w)
		o.log.Warn("retry may leave the file twice at the partner", zap.String("job", f.Job), zap.Int64("file_id", f.ID), zap.String("error", w))
	}
	for i, d := range res.Superseded {
		fields := []zap.Field{zap.String("job", f.Job), zap.Int64("file_id", f.ID),
			zap.Int64("delivery_id", d.ID), zap.Int("index", d.Index), zap.String("partner", d.Partner),
			zap.String("file", d.Dir+"/"+d.Name), zap.String("state", d.State), zap.String("mode", d.Mode),
			zap.String("outcome", "superseded"), zap.String("may_hold", ledger.MayHold(d))}
		if hint := breachHint(d, dests); hint != "" {
			// Another partner than the job's may hold the file: a
			// possible breach, for the DPO to judge.
			rep.Superseded[i].Breach = hint
			o.log.Error("delivery superseded to another partner: possible data breach",
				append(fields, zap.String("hint", hint))...)
			continue
		}
		o.log.Warn("delivery superseded", fields...)
	}
	return rep, nil
}

// toSupersede returns the deliveries of cur a retry under dests would
// supersede: not delivered, at an index dests names with another
// destination (see ledger.Retry).
func toSupersede(cur []ledger.Delivery, dests []ledger.Destination) []ledger.Delivery {
	var out []ledger.Delivery
	for _, d := range cur {
		if d.State == ledger.DeliveryDelivered {
			continue
		}
		for _, c := range dests {
			if c.Index == d.Index && ledger.Changed(d, dests) {
				out = append(out, d)
			}
		}
	}
	return out
}

// twiceAtPartner warns of each delivery of superseded that may hold the
// file, complete or partial, under its final name at the partner the job
// still sends that output to, now under another name or in another
// directory (pgp: added, dropped or changed renames it): after the retry
// the fresh delivery puts it there again, and the partner may hold the
// same claims twice.
func twiceAtPartner(superseded []ledger.Delivery, dests []ledger.Destination) []string {
	var out []string
	for _, d := range superseded {
		finalMayStand := (d.Mode == ledger.ModeDirect && d.State != ledger.DeliveryStarted) || d.State == ledger.DeliveryUploaded
		for _, c := range dests {
			if c.Index != d.Index || c.Partner != d.Partner || !finalMayStand {
				continue
			}
			name := c.Name
			if name == "" {
				name = d.Name
			}
			out = append(out, fmt.Sprintf("output %d may stand at %s as %s (%s), and a fresh delivery sends it to %s as %s: %s may then hold the file twice; tell them to remove %s",
				d.Index, d.Partner, path.Join(d.Dir, d.Name), ledger.MayHold(d), d.Partner, path.Join(c.Dir, name), d.Partner, path.Join(d.Dir, d.Name)))
		}
	}
	return out
}

// missingOutputs warns of each superseded delivery whose output for the
// destination the job now names is not in staging: its partner (or
// profile) changed since the file was prepared, and outputs are made
// for one destination (exchange.OutputName), so the next run cannot
// deliver it; the file must be abandoned and dropped again.
func (o *fileOps) missingOutputs(f *ledger.File, job *config.Job, superseded []ledger.Delivery) []string {
	if f.State != ledger.StateTransformed {
		return nil // not prepared yet: the outputs are made for the current destinations
	}
	st := o.staging()
	var out []string
	for _, d := range superseded {
		if d.Index < 0 || d.Index >= len(job.Destinations) {
			continue // the reject report is one, whoever receives it; an index no longer named gets nothing
		}
		name := exchange.OutputName(o.cfg, job, f.Name, d.Index)
		if _, err := os.Stat(st.Path(f.ID, name)); err != nil {
			out = append(out, fmt.Sprintf("output %d was prepared for %s, and the job now names %s: there is no output for it in staging, so the next run cannot deliver it; abandon the file and drop it again at the source",
				d.Index, d.Partner, job.Destinations[d.Index].Partner))
		}
	}
	return out
}

// abandon gives file id up: the ledger first (from then on the file is
// finished, and what staging still holds of it is swept at the next
// start should its removal fail here), then its staging. The source is
// not touched.
//
// When the source is already gone (cleaned after staging, after: delete)
// and staging holds the file, the staged copy is the last one: unless
// sourceGoneOK, the abandon is refused before anything is changed.
func (o *fileOps) abandon(id int64, by, reason string, sourceGoneOK bool) (*actionReport, error) {
	if err := ledger.CheckReason(reason); err != nil {
		return nil, fmt.Errorf("--reason: %w: %w", err, ops.ErrInvalid)
	}
	f, job, err := o.file(id)
	if err != nil {
		return nil, err
	}
	st := o.staging()
	staged := stagedOf(st, id, f.Name)
	cleaned := sourceCleaned(f)
	if o.cfg.Cluster != nil {
		// A cluster cleans the source only once the file is delivered,
		// or, rejected whole, once its rejection is over (rejecting).
		cleaned = cleaned && f.Rejecting
	}
	source := sourceNote(f, job, cleaned, o.cfg.Cluster != nil)
	if len(staged) > 0 && cleaned && sourceGone(job) && !sourceGoneOK {
		return nil, fmt.Errorf("file %d: not abandoned: %s; abandoning deletes that last copy: pass --source-gone-ok to do so: %w",
			id, source, ledger.ErrState)
	}
	res, err := o.ledger.Abandon(id, by, reason, map[string]any{"staging": staged, "source": source})
	if err != nil {
		return nil, err
	}
	rep := &actionReport{Action: ledger.ActionAbandon, ActionID: res.Action.ID, File: o.row(*f), By: by,
		Open: oldDeliveries(res.Open), Staging: staged, Source: source,
		Next: "the file is finished: no run takes it again while its source stands as it is; to have it taken again, drop it again at the source (a new modification time) or under another name"}
	rmErr := st.Remove(id, f.Name)
	left := stagedOf(st, id, f.Name)
	rep.Staging = removed(staged, left)
	switch {
	case rmErr != nil:
		rep.StagingErr = rmErr.Error() + " (swept at the next start)"
	case len(left) > 0:
		rep.StagingErr = fmt.Sprintf("still staged: %v (swept at the next start)", left)
	}
	o.logAction(f, res.Action, reason, zap.Int("staging_removed", len(rep.Staging)), zap.Int("open_deliveries", len(res.Open)),
		zap.Bool("staging_error", rep.StagingErr != ""))
	return rep, nil
}

// removed returns the names of staged that left does not hold: what a
// removal did remove.
func removed(staged, left []string) []string {
	out := []string{}
	for _, s := range staged {
		if !slices.Contains(left, s) {
			out = append(out, s)
		}
	}
	return out
}

// logAction logs an action taken. The reason is the operator's free text
// and the actor names a person: both are in the ledger (file_actions,
// action_id), and only the reason's length is logged.
func (o *fileOps) logAction(f *ledger.File, a ledger.FileAction, reason string, extra ...zap.Field) {
	fields := append([]zap.Field{zap.String("job", f.Job), zap.String("partner", f.Partner),
		zap.Int64("file_id", f.ID), zap.String("file", f.Dir+"/"+f.Name), zap.String("action", a.Action),
		zap.Int64("action_id", a.ID), zap.String("state", f.State), zap.Int("reason_len", len(reason)),
		zap.String("outcome", a.Action)}, extra...)
	o.log.Warn("file action", fields...)
}

// stagedOf lists what staging holds for file id (source name name), by
// names relative to the staging directory.
func stagedOf(st *exchange.Staging, id int64, name string) []string { return st.Held(id, name) }

// sourceCleaned reports whether the source of f was cleaned (its job's
// after: applied) after it was staged, as one machine does it: at once.
// A cluster cleans it only once the file is over (see abandon).
func sourceCleaned(f *ledger.File) bool {
	return f.State != ledger.StateStaging && f.State != ledger.StateStaged
}

// sourceGone reports whether the source of a file cleaned by job may be
// gone: after: delete, or its job is no longer known.
func sourceGone(job *config.Job) bool {
	return job == nil || job.Source.After == "" || job.Source.After == config.AfterDelete
}

// sourceNote says where the source of f is, from whether it was cleaned
// (sourceCleaned, or in a cluster, which cleans it only once the file is
// over, whether that was under way) and its job's after: (exchanged does
// not look: the source is not touched).
func sourceNote(f *ledger.File, job *config.Job, cleaned, cluster bool) string {
	at := fmt.Sprintf("%s:%s/%s", f.Partner, f.Dir, f.Name)
	switch {
	case !cleaned && cluster && sourceCleaned(f) && (job == nil || job.Source.After != config.AfterKeep):
		return "left where it was: in a cluster the source is cleaned only once the file is delivered, so it still stands at " + at +
			" (unless removed there since), and no run takes it again while it stands as it is: delete it there if it is not to be sent, or drop it again (a new modification time) to have it taken again"
	case !cleaned:
		return "left where it was: the source was not cleaned yet (" + at + ")"
	}
	if job == nil {
		return "cleaned at the source after it was staged, as its job (no longer in the config) said: " + at
	}
	after := job.Source.After
	switch {
	case after == config.AfterKeep:
		return "left where it was (after: keep): " + at
	case after == "" || after == config.AfterDelete:
		return "already deleted at the source after it was staged (after: delete): " + at + " is gone, the staged copy was the last"
	default:
		return "already moved at the source after it was staged (after: " + after + ")"
	}
}

// staging is the staging directory, to name, list and remove a file's
// staging: no file is read, so no key is loaded (or generated).
func (o *fileOps) staging() *exchange.Staging {
	return exchange.StagingAt(filepath.Join(o.cfg.StateDir, "staging"))
}
