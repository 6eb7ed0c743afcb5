// Package gateway is deskgate's server: the one listener on a desktop pod's
// IP. It checks Cloudflare Access's token (or the local-access cookie) on
// every request, serves the noVNC page, relays the page's websocket to the
// VNC server on loopback while answering the VNC password itself, and
// exports Prometheus metrics on a separate listener.
package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Ports and routes that the desktop pod, its Service and deskctl rely on.
const (
	// Port is where deskgate listens by default; the pod names it PortName.
	Port = 8080
	// PortName names the gateway port in the pod and Service specs.
	PortName = "gateway"
	// MetricsPort serves /metrics; no Service or Ingress exposes it.
	MetricsPort = 9090
	// MetricsPortName names the metrics port in the pod spec.
	MetricsPortName = "metrics"

	// HealthzPath answers 200 while the process is alive; no token needed.
	HealthzPath = "/healthz"
	// ReadyzPath answers 200 when the VNC server greets; no token needed.
	ReadyzPath = "/readyz"
	// WebsocketPath is the websocket relay to the VNC server.
	WebsocketPath = "/websockify"
	// LocalAuthPath exchanges the local-access secret for a cookie.
	LocalAuthPath = "/auth/local"
	// MetricsPath serves Prometheus text on the metrics listener.
	MetricsPath = "/metrics"
)

// Defaults of the Config fields.
const (
	DefaultListen         = ":8080"
	DefaultMetricsListen  = ":9090"
	DefaultVNCAddr        = "127.0.0.1:5900"
	DefaultNoVNCDir       = "/usr/share/novnc"
	DefaultKeepalive      = 25 * time.Second
	DefaultLocalCookieTTL = 12 * time.Hour
)

// Config is everything deskgate is told at start. Zero fields take the
// defaults above.
type Config struct {
	// Listen is the address of the gateway listener.
	Listen string
	// MetricsListen is the address of the metrics listener.
	MetricsListen string

	// VNCAddr is the VNC server, on loopback.
	VNCAddr string
	// VNCPasswordFile holds the plain VNC password, read at every session so
	// that a rotated Secret applies to new sessions. Empty means the VNC
	// server requires no authentication.
	VNCPasswordFile string

	// TeamDomain is the Access team: a bare host (meaning https://) or a URL.
	TeamDomain string
	// Audiences are the Access application tags a token may carry.
	Audiences []string
	// AllowEmails, when not empty, are the only identities let in.
	AllowEmails []string

	// AccessConfigFile is the mounted access.json of the set, re-read when
	// it changes; Desktop names this desktop in it. Its team domain applies
	// when TeamDomain is empty; its audiences and users add to the flags'.
	AccessConfigFile string
	// Desktop is this desktop's name, shown on the page and in logs.
	Desktop string

	// LocalSecretFile holds this desktop's local-access secret. Empty
	// disables the local path.
	LocalSecretFile string
	// LocalCookieTTL is how long a local-access cookie is valid.
	LocalCookieTTL time.Duration

	// NoVNCDir holds noVNC's files (core/rfb.js and what it imports).
	NoVNCDir string
	// Keepalive is the interval of websocket pings on every session.
	Keepalive time.Duration

	// Logger receives structured logs; slog.Default() when nil.
	Logger *slog.Logger
	// HTTPClient fetches the Access keys; nil means a client with a timeout.
	HTTPClient *http.Client
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MetricsListen == "" {
		c.MetricsListen = DefaultMetricsListen
	}
	if c.VNCAddr == "" {
		c.VNCAddr = DefaultVNCAddr
	}
	if c.NoVNCDir == "" {
		c.NoVNCDir = DefaultNoVNCDir
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.LocalCookieTTL == 0 {
		c.LocalCookieTTL = DefaultLocalCookieTTL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}

	switch {
	case c.Keepalive < 0:
		return c, fmt.Errorf("keepalive %s must be positive", c.Keepalive)
	case c.LocalCookieTTL < 0:
		return c, fmt.Errorf("local cookie TTL %s must be positive", c.LocalCookieTTL)
	case c.AccessConfigFile != "" && c.Desktop == "":
		return c, errors.New("an access config file needs the desktop name")
	case c.TeamDomain == "" && c.AccessConfigFile == "":
		return c, errors.New("a team domain or an access config file is required")
	}
	return c, nil
}
