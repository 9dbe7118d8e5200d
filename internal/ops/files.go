package ops

import (
	"encoding/json"
	"errors"
	"mime"
	"net"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/ledger"
	"github.com/exchanged/exchanged/schedule"
)

// FileOps is what the /files routes call: exchanged files, served by the
// daemon that holds state_dir. Each returns a JSON-encodable answer.
// Errors map to statuses: ledger.ErrNotFound 404, ledger.ErrState and
// schedule.ErrRunning 409 (the file is finished, or its job is running:
// try again after the run), ErrInvalid 400, anything else 500.
type FileOps interface {
	List(job, state string) (any, error)
	Retry(id int64, req FileRequest) (any, error)
	Abandon(id int64, req FileRequest) (any, error)
}

// FileRequest is the JSON body of POST /files/ID/retry and /abandon.
type FileRequest struct {
	By     string `json:"by"`     // who asks: the OS user of the CLI, and its --by
	Reason string `json:"reason"` // why; required for abandon
	// Force: retry even when the next run cannot deliver the file.
	Force bool `json:"force,omitempty"`
	// SourceGoneOK: abandon even when the staged copy is the last one.
	SourceGoneOK bool `json:"source_gone_ok,omitempty"`
	// StateDir: the state_dir the caller means; a daemon of another
	// state_dir refuses the action.
	StateDir string `json:"state_dir,omitempty"`
	Remote   string `json:"-"` // the caller's address, set by the route
}

// ErrInvalid marks a request the FileOps refuse as malformed (400).
var ErrInvalid = errors.New("invalid request")

// maxFileRequest bounds the body of a file action.
const maxFileRequest = 8 << 10

// fileRoutes adds the /files routes. The two that change anything answer
// only a loopback caller (403 otherwise), as the endpoint listens on
// 127.0.0.1 by default, and only a body of Content-Type
// application/json (415 otherwise), which a web page of another origin
// cannot send without the preflight this endpoint never answers: a
// browser on the host cannot be made to abandon a file.
func (h *Handler) fileRoutes(mux *http.ServeMux, log *zap.Logger) {
	mux.HandleFunc("GET /files", h.guard(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		v, err := h.Files.List(q.Get("job"), q.Get("state"))
		if err != nil {
			text(w, fileStatus(err), err.Error())
			return
		}
		writeJSON(w, v)
	}))
	act := func(action string, fn func(int64, FileRequest) (any, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			code, msg := http.StatusOK, ""
			defer func() {
				log.Info("file action requested", zap.String("action", action), zap.String("file_id", r.PathValue("id")),
					zap.String("remote", r.RemoteAddr), zap.Int("status", code))
			}()
			id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
			switch {
			case !loopback(r.RemoteAddr):
				code, msg = http.StatusForbidden, "file actions are taken from the daemon's own host only (loopback)"
			case !isJSON(r.Header.Get("Content-Type")):
				code, msg = http.StatusUnsupportedMediaType, "the body must be application/json"
			case err != nil || id <= 0:
				code, msg = http.StatusBadRequest, "the file id must be a positive number"
			}
			if code != http.StatusOK {
				text(w, code, msg)
				return
			}
			var req FileRequest
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFileRequest))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				code = http.StatusBadRequest
				text(w, code, "the body must be a JSON object with by and reason")
				return
			}
			req.Remote = r.RemoteAddr
			v, err := fn(id, req)
			if err != nil {
				code = fileStatus(err)
				text(w, code, err.Error())
				return
			}
			writeJSON(w, v)
		}
	}
	mux.HandleFunc("POST /files/{id}/retry", h.guard(act("retry", h.Files.Retry)))
	mux.HandleFunc("POST /files/{id}/abandon", h.guard(act("abandon", h.Files.Abandon)))
}

func fileStatus(err error) int {
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ledger.ErrState), errors.Is(err, schedule.ErrRunning):
		return http.StatusConflict
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, schedule.ErrStopped):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// loopback reports whether addr (host:port) is a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
