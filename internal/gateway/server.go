package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/deskctl/deskctl/pkg/rfb"
)

// Server is one desktop's gateway.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	// policy is swapped whole when the access config changes.
	policy atomic.Pointer[policy]
	// accessRaw is the access config file content the policy was built from.
	accessRaw []byte

	// cookieKey, random per process, keys the local-access cookies.
	cookieKey []byte

	// baseCtx parents every session; Run replaces it with its own context so
	// that shutdown ends the sessions.
	baseCtx context.Context
}

// New checks cfg and builds the server's initial policy. An access config
// file that cannot be read yet leaves the flags' policy in place; it is read
// again when Run watches it.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(), baseCtx: context.Background(),
		cookieKey: make([]byte, 32)}
	if _, err := rand.Read(s.cookieKey); err != nil {
		return nil, fmt.Errorf("making the cookie key: %w", err)
	}

	p, err := s.buildPolicy(nil, nil)
	if err != nil {
		return nil, err
	}
	s.policy.Store(p)
	if cfg.AccessConfigFile != "" {
		s.reloadAccess()
	}
	return s, nil
}

// Handler serves the gateway's routes: probes without a token, everything
// else behind authorization.
func (s *Server) Handler() http.Handler {
	authed := http.NewServeMux()
	authed.HandleFunc("GET /{$}", s.servePage)
	authed.Handle("GET /static/", staticHandler())
	authed.Handle("GET /novnc/", http.StripPrefix("/novnc", noVNCHandler(s.cfg.NoVNCDir)))
	authed.HandleFunc("GET "+WebsocketPath, s.serveWebsocket)

	mux := http.NewServeMux()
	mux.HandleFunc(HealthzPath, serveHealthz)
	mux.HandleFunc(ReadyzPath, s.serveReadyz)
	mux.HandleFunc(LocalAuthPath, s.serveLocalAuth)
	mux.Handle("/", s.authorize(authed))
	return mux
}

// MetricsHandler serves Prometheus text at MetricsPath.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, s.metrics.handler())
	return mux
}

// Run serves the gateway and metrics listeners and watches the access
// config until ctx ends, then shuts down, closing open sessions.
func (s *Server) Run(ctx context.Context) error {
	gl, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway listener: %w", err)
	}
	ml, err := net.Listen("tcp", s.cfg.MetricsListen)
	if err != nil {
		gl.Close()
		return fmt.Errorf("metrics listener: %w", err)
	}
	return s.Serve(ctx, gl, ml)
}

// Serve is Run on listeners the caller opened.
func (s *Server) Serve(ctx context.Context, gateway, metrics net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.baseCtx = ctx

	servers := []*http.Server{
		{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
		{Handler: s.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second},
	}
	errc := make(chan error, 2)
	for i, l := range []net.Listener{gateway, metrics} {
		go func() { errc <- servers[i].Serve(l) }()
	}
	go s.watchAccess(ctx)
	s.log.Info("gateway listening", "desktop", s.cfg.Desktop, "addr", gateway.Addr().String(),
		"metrics", metrics.Addr().String(), "vnc", s.cfg.VNCAddr)

	// Wait for the end, then give requests a moment to finish.
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	for _, srv := range servers {
		_ = srv.Shutdown(sctx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// serveHealthz says the process is alive, and nothing else.
func serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// serveReadyz answers 200 once the VNC server sends its RFB greeting.
func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.probeVNC(r.Context()); err != nil {
		s.log.Debug("not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// probeVNC connects to the VNC server and reads its protocol version.
func (s *Server) probeVNC(ctx context.Context) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", s.cfg.VNCAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, err = rfb.ReadVersion(c)
	return err
}
