// Package config loads deskctl's configuration from defaults, a file, the
// DESKCTL_* environment and flags, and validates it. No other package sees
// viper: they get a typed Config.
package config

import (
	"time"

	"github.com/deskctl/deskctl/internal/desktop"
)

// Exposure modes.
const (
	ExposeALB    = "alb"
	ExposeTunnel = "tunnel"
	ExposeNone   = "none"
)

// Access modes.
const (
	AccessPerDesktop = "per-desktop"
	AccessWildcard   = "wildcard"
)

// Config is the whole effective configuration of one deskctl invocation.
type Config struct {
	Name        string     `mapstructure:"name" json:"name"`
	Namespace   string     `mapstructure:"namespace" json:"namespace"`
	Domain      string     `mapstructure:"domain" json:"domain"`
	HostPattern string     `mapstructure:"hostPattern" json:"hostPattern"`
	Image       string     `mapstructure:"image" json:"image"`
	Replicas    int        `mapstructure:"replicas" json:"replicas"`
	MaxReplicas int        `mapstructure:"maxReplicas" json:"maxReplicas"`
	Resources   Resources  `mapstructure:"resources" json:"resources"`
	Home        Home       `mapstructure:"home" json:"home"`
	Expose      Expose     `mapstructure:"expose" json:"expose"`
	Cloudflare  Cloudflare `mapstructure:"cloudflare" json:"cloudflare"`

	// ReplicasGiven is true when the file, the environment or a flag set
	// replicas; otherwise up keeps the count the set already has.
	ReplicasGiven bool `mapstructure:"-" json:"-"`
}

// Resources are the desktop container's requests and limits, as Kubernetes
// quantities keyed by resource name (cpu, memory).
type Resources struct {
	Requests map[string]string `mapstructure:"requests" json:"requests"`
	Limits   map[string]string `mapstructure:"limits" json:"limits"`
}

// Home is the persistent home volume of every desktop.
type Home struct {
	Size         string `mapstructure:"size" json:"size"`
	StorageClass string `mapstructure:"storageClass" json:"storageClass"`
}

// Expose says how desktops are reached from outside the cluster.
type Expose struct {
	Mode         string `mapstructure:"mode" json:"mode"`
	IngressClass string `mapstructure:"ingressClass" json:"ingressClass"`
	ALB          ALB    `mapstructure:"alb" json:"alb"`
}

// ALB configures the Ingresses that the AWS Load Balancer Controller turns
// into Application Load Balancers.
type ALB struct {
	CertificateARN      string `mapstructure:"certificateARN" json:"certificateARN"`
	MaxDesktopsPerGroup int    `mapstructure:"maxDesktopsPerGroup" json:"maxDesktopsPerGroup"`
	IdleTimeoutSeconds  int    `mapstructure:"idleTimeoutSeconds" json:"idleTimeoutSeconds"`
	GroupPrefix         string `mapstructure:"groupPrefix" json:"groupPrefix"`
	// RestrictToCloudflare limits every ALB to Cloudflare's IP ranges. Nil
	// means: true when Cloudflare is enabled.
	RestrictToCloudflare *bool `mapstructure:"restrictToCloudflare" json:"restrictToCloudflare"`
}

// Cloudflare configures DNS records, Access applications and the tunnel.
type Cloudflare struct {
	Enabled      bool             `mapstructure:"enabled" json:"enabled"`
	AccountID    string           `mapstructure:"accountID" json:"accountID"`
	Zone         string           `mapstructure:"zone" json:"zone"`
	ZoneID       string           `mapstructure:"zoneID" json:"zoneID"`
	TeamDomain   string           `mapstructure:"teamDomain" json:"teamDomain"`
	APITokenFile string           `mapstructure:"apiTokenFile" json:"apiTokenFile"`
	Access       CloudflareAccess `mapstructure:"access" json:"access"`
	Allow        Allow            `mapstructure:"allow" json:"allow"`
	Tunnel       Tunnel           `mapstructure:"tunnel" json:"tunnel"`

	// APIToken is read from CLOUDFLARE_API_TOKEN or APITokenFile. It is
	// never printed: config view shows it redacted.
	APIToken string `mapstructure:"-" json:"-"`
}

// CloudflareAccess configures the Access applications.
type CloudflareAccess struct {
	Mode            string        `mapstructure:"mode" json:"mode"`
	SessionDuration time.Duration `mapstructure:"sessionDuration" json:"sessionDuration"`
}

// Allow is the set-wide admission: who may reach any desktop of the set.
type Allow struct {
	Emails       []string `mapstructure:"emails" json:"emails"`
	EmailDomains []string `mapstructure:"emailDomains" json:"emailDomains"`
	Groups       []string `mapstructure:"groups" json:"groups"`
}

// Tunnel configures tunnel exposure.
type Tunnel struct {
	// Name of the Cloudflare Tunnel to create or adopt; empty means
	// deskctl-<namespace>-<name>.
	Name string `mapstructure:"name" json:"name"`
	// Image of the cloudflared Deployment.
	Image string `mapstructure:"image" json:"image"`
}

// Set returns the desktop set the configuration describes.
func (c *Config) Set() desktop.Set {
	return desktop.Set{
		Name:        c.Name,
		Namespace:   c.Namespace,
		Domain:      c.Domain,
		HostPattern: c.HostPattern,
		GroupSize:   c.Expose.ALB.MaxDesktopsPerGroup,
		GroupPrefix: c.Expose.ALB.GroupPrefix,
	}
}

// RestrictToCloudflare reports whether ALBs admit only Cloudflare's ranges.
func (c *Config) RestrictToCloudflare() bool {
	if c.Expose.ALB.RestrictToCloudflare != nil {
		return *c.Expose.ALB.RestrictToCloudflare
	}
	return c.Cloudflare.Enabled
}

// TunnelName is the name of the set's Cloudflare Tunnel.
func (c *Config) TunnelName() string {
	if c.Cloudflare.Tunnel.Name != "" {
		return c.Cloudflare.Tunnel.Name
	}
	return "deskctl-" + c.Namespace + "-" + c.Name
}
