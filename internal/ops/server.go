package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/exchanged/exchanged/schedule"
)

// Handler serves the ops endpoint:
//
//	GET  /healthz          200 while the process is up
//	GET  /readyz           200 when Ready returns nil, else 503 and its error
//	GET  /metrics          the metrics, in Prometheus text format
//	POST /jobs/NAME/run    Trigger(NAME): 202 started, 404 unknown job, 409 running,
//	                       503 stopping
//	GET  / and /status     the status page, an HTML rendering of Status (see status.go)
//	GET  /files            Files.List: the files not done (?job=J&state=pending|failed), JSON
//	POST /files/ID/retry   Files.Retry, from loopback only, with a JSON body; see files.go
//	POST /files/ID/abandon Files.Abandon, likewise
//
// Ready, Trigger and Status may be nil: not ready, and 503. Files may be
// nil: no /files routes.
//
// Against DNS rebinding, every route but /healthz, /readyz and /metrics
// answers 421 unless the request's Host is an IP address, localhost or
// one of Hosts (see hostAllowed); POST /jobs/NAME/run also refuses
// another origin and a web form's body (see runAllowed).
type Handler struct {
	Metrics *Metrics
	Ready   func() error
	Trigger func(job string) error
	Status  func(ctx context.Context) (Status, error)
	Files   FileOps
	Log     *zap.Logger
	// Hosts are the host names, beside IP addresses and localhost, that
	// the guarded routes answer to (http.hosts and the host of
	// http.listen); compared without case.
	Hosts []string
}

// ServeMux returns the routes above.
func (h *Handler) ServeMux() *http.ServeMux {
	log := h.Log
	if log == nil {
		log = zap.NewNop()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		err := errors.New("starting")
		if h.Ready != nil {
			err = h.Ready()
		}
		if err != nil {
			text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		text(w, http.StatusOK, "ready")
	})
	if h.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(h.Metrics.reg, promhttp.HandlerOpts{
			Registry: h.Metrics.reg, ErrorLog: zap.NewStdLog(log)}))
	}
	mux.HandleFunc("POST /jobs/{name}/run", h.guard(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if code, msg := runAllowed(r); code != 0 {
			log.Info("run refused", zap.String("job", name), zap.String("remote", r.RemoteAddr), zap.Int("status", code))
			text(w, code, msg)
			return
		}
		err := schedule.ErrStopped
		if h.Trigger != nil {
			err = h.Trigger(name)
		}
		code := http.StatusAccepted
		switch {
		case err == nil:
		case errors.Is(err, schedule.ErrUnknownJob):
			code = http.StatusNotFound
		case errors.Is(err, schedule.ErrRunning):
			code = http.StatusConflict
		case errors.Is(err, schedule.ErrStopped):
			code = http.StatusServiceUnavailable
		default:
			code = http.StatusInternalServerError
		}
		log.Info("run requested", zap.String("job", name), zap.String("remote", r.RemoteAddr),
			zap.Int("status", code))
		if err != nil {
			text(w, code, err.Error())
			return
		}
		text(w, code, "started")
	}))
	mux.HandleFunc("GET /{$}", h.guard(h.serveStatus(log)))
	mux.HandleFunc("GET /status", h.guard(h.serveStatus(log)))
	if h.Files != nil {
		h.fileRoutes(mux, log)
	}
	return mux
}

// guard answers 421 Misdirected Request to a request whose Host h does not
// answer to, and passes the others to next. A page of another site whose
// DNS name an attacker points at this endpoint (DNS rebinding) is asked
// for by that name, so it gets neither the status page nor /files.
func (h *Handler) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.hostAllowed(r.Host) {
			text(w, http.StatusMisdirectedRequest, "this endpoint answers to its IP addresses, localhost and the names in http.hosts only")
			return
		}
		next(w, r)
	}
}

// hostAllowed reports whether host (a Host header, with or without a
// port) is an IP address, localhost or one of h.Hosts.
func (h *Handler) hostAllowed(host string) bool {
	name := host
	if hn, _, err := net.SplitHostPort(host); err == nil {
		name = hn
	} else {
		name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	if strings.EqualFold(name, "localhost") {
		return true
	}
	return slices.ContainsFunc(h.Hosts, func(n string) bool { return strings.EqualFold(n, name) })
}

// runAllowed returns 0 if r may start a run, else the status and why not:
// 403 when it carries an Origin other than the endpoint's own (a page of
// another site), 415 when it has a body of a type other than
// application/json (a web form can post without an Origin in older
// browsers; curl -X POST sends no Content-Type).
func runAllowed(r *http.Request) (int, string) {
	if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, "http://"+r.Host) && !strings.EqualFold(o, "https://"+r.Host) {
		return http.StatusForbidden, "a run is not started from another origin"
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return http.StatusUnsupportedMediaType, "send no body, or application/json"
	}
	return 0, ""
}

func text(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// Server is the ops endpoint's HTTP server. Listen binds its address at once, so that a
// taken port fails startup; Close stops it.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	log  *zap.Logger
	wg   sync.WaitGroup
	once sync.Once
}

// Listen listens on addr and serves h until Close.
func Listen(addr string, h *Handler, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	s := &Server{ln: ln, log: log, srv: &http.Server{
		Handler:           h.ServeMux(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(log),
	}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops endpoint stopped", zap.String("error", err.Error()))
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close shuts the server down, letting requests in progress finish until ctx is done.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		err = s.srv.Shutdown(ctx)
		if err != nil {
			_ = s.srv.Close()
		}
		s.wg.Wait()
	})
	return err
}
