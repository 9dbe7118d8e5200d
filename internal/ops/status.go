package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Status is what the status page shows: the daemon's state at one moment. It holds no
// personal data: files are named by job, partner, name and state, and errors are the
// ledger's, which never hold a cell's value.
type Status struct {
	Version  string
	Now      time.Time      // when it was taken
	Location *time.Location // times are shown in this zone; nil: UTC
	Jobs     []JobStatus    // in the order shown
}

// JobStatus is one job on the status page.
type JobStatus struct {
	Name     string
	Schedule string    // as configured
	Running  bool      // a run is in progress (or waiting for its jitter or a slot)
	Next     time.Time // the next scheduled run; zero: none
	LastRun  RunStatus // zero Started: never ran
	// Due is when the job's next expected file is due, and Overdue whether one is
	// overdue now; zero and false for a job that expects none.
	Due     time.Time
	Overdue bool
	Pending []FileStatus // files neither done nor rejected, the longest-seen first
	// PendingTotal is how many such files the job has in all, when Pending
	// holds the first PendingListed only; 0: len(Pending).
	PendingTotal int
}

// RunStatus is a job's last run.
type RunStatus struct {
	Started, Finished time.Time // Finished is zero while it runs, or if it never finished (a crash)
	Outcome           string    // "ok", "failed", "interrupted"; "" while running or never finished
	Files             int
	Error             string // no personal data
}

// FileStatus is one file not done yet.
type FileStatus struct {
	ID       int64
	Partner  string // the source partner
	Name     string // the source file name
	State    string // the ledger state it reached: staged, cleaned, transformed, ...
	Attempts int    // consecutive failed attempts
	Seen     time.Time
	Error    string // the last error, no personal data; "" if none
}

// statusRefresh is how often the page reloads itself, in seconds.
const statusRefresh = 30

// maxListed is how many pending files of one job the page lists; it counts the rest.
const maxListed = 100

// PendingListed is how many pending files of a job the page lists: a
// Status needs no more in JobStatus.Pending (see PendingTotal).
const PendingListed = maxListed

var (
	//go:embed status.html
	statusHTML string
	//go:embed status.css
	statusCSS string

	statusPage = template.Must(template.New("status").Parse(statusHTML))
	// statusCSP allows the page's own style sheet, by its hash, and nothing else: no
	// script, no image, no other origin, no frame, no form.
	statusCSP = fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		base64.StdEncoding.EncodeToString(func() []byte { h := sha256.Sum256([]byte(statusCSS)); return h[:] }()))
)

// serveStatus renders the status page from h.Status.
func (h *Handler) serveStatus(log *zap.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.Status == nil {
			text(w, http.StatusServiceUnavailable, "status: starting")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		st, err := h.Status(ctx)
		if err != nil {
			log.Error("status page failed", zap.String("error", err.Error()))
			text(w, http.StatusInternalServerError, "status unavailable: "+err.Error())
			return
		}
		var b bytes.Buffer
		if err := statusPage.Execute(&b, newStatusView(st)); err != nil {
			log.Error("status page failed", zap.String("error", err.Error()))
			text(w, http.StatusInternalServerError, "status unavailable")
			return
		}
		hd := w.Header()
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Content-Security-Policy", statusCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b.Bytes())
	}
}

// statusView is Status as the template shows it: times formatted in the daemon's zone,
// ages and durations in words.
type statusView struct {
	Version, Now, NowISO string
	Refresh              int
	CSS                  template.CSS
	Jobs                 []jobView
}

type jobView struct {
	Name, Schedule        string
	Running               bool
	LastStart, LastTook   string
	Outcome, OutcomeClass string
	LastError             string
	Next, NextIn, Due     string
	Overdue               bool
	PendingCount, More    int
	Pending               []fileView
}

type fileView struct {
	ID                              int64
	Partner, Name, State, Age, Seen string
	Attempts                        int
	Error                           string
}

func newStatusView(st Status) statusView {
	loc := st.Location
	if loc == nil {
		loc = time.UTC
	}
	now := st.Now
	if now.IsZero() {
		now = time.Now()
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format("2006-01-02 15:04:05 MST")
	}
	v := statusView{Version: st.Version, Now: at(now), NowISO: now.UTC().Format(time.RFC3339),
		Refresh: statusRefresh, CSS: template.CSS(statusCSS)}
	for _, j := range st.Jobs {
		jv := jobView{Name: j.Name, Schedule: j.Schedule, Running: j.Running, Next: at(j.Next),
			Due: at(j.Due), Overdue: j.Overdue, PendingCount: max(j.PendingTotal, len(j.Pending))}
		if !j.Next.IsZero() {
			jv.NextIn = "in " + words(j.Next.Sub(now))
		}
		switch r := j.LastRun; {
		case r.Started.IsZero():
			jv.Outcome, jv.OutcomeClass = "never ran", "none"
		case r.Outcome == "" && j.Running:
			jv.LastStart, jv.LastTook = at(r.Started), "for "+words(now.Sub(r.Started))
			jv.Outcome, jv.OutcomeClass = "in progress", "running"
		case r.Outcome == "":
			jv.LastStart, jv.LastTook = at(r.Started), "never finished"
			jv.Outcome, jv.OutcomeClass = "unfinished", "failed"
		default:
			jv.LastStart, jv.LastTook = at(r.Started), "took "+words(r.Finished.Sub(r.Started))
			jv.Outcome, jv.OutcomeClass, jv.LastError = r.Outcome, r.Outcome, r.Error
			if r.Outcome != "ok" && r.Outcome != "failed" && r.Outcome != "interrupted" {
				jv.OutcomeClass = "none"
			}
		}
		if j.Running && jv.OutcomeClass == "running" {
			jv.Running = false // one "running" tag is enough
		}
		for _, f := range j.Pending[:min(len(j.Pending), maxListed)] {
			jv.Pending = append(jv.Pending, fileView{ID: f.ID, Partner: f.Partner, Name: f.Name, State: f.State,
				Attempts: f.Attempts, Age: words(now.Sub(f.Seen)), Seen: at(f.Seen), Error: f.Error})
		}
		jv.More = jv.PendingCount - len(jv.Pending)
		v.Jobs = append(v.Jobs, jv)
	}
	return v
}

// words says d the way a person would: "45s", "12m", "3h 5m", "2d 4h".
func words(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}
