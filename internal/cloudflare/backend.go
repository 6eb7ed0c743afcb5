// Package cloudflare is deskctl's Cloudflare backend: it plans and applies
// the DNS records, Access applications and policies, and the Tunnel that
// publish a set of desktops behind Cloudflare Zero Trust. It writes the
// gateway ConfigMap through the cluster backend, so every gateway knows the
// Access audiences it must accept.
package cloudflare

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	cf "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"
	"github.com/cloudflare/cloudflare-go/v6/zones"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
)

// Cluster is what the Cloudflare backend needs from the cluster backend.
type Cluster interface {
	// State reads what the cluster knows, with a constant number of list
	// calls, cached for the run.
	State(ctx context.Context) (*desktop.ClusterState, error)
	// Apply writes a typed object with server-side apply (field manager
	// deskctl).
	Apply(ctx context.Context, obj runtime.Object) error
	// Delete removes an object by kind, namespace and name; a missing
	// object is not an error.
	Delete(ctx context.Context, obj runtime.Object) error
}

// ObjectReader may be implemented by a Cluster to return the current
// version of an object from its observation of the set: the object of the
// same kind, namespace and name, or nil when there is none. With it, the
// backend re-applies the tunnel's Secret and Deployment only when they
// differ; without it, it applies them on every run.
type ObjectReader interface {
	Current(ctx context.Context, obj runtime.Object) (runtime.Object, error)
}

// Options are the inputs of one run of the backend.
type Options struct {
	// Desktops are the desired desktops; empty with Teardown.
	Desktops []desktop.Desktop
	// Teardown deletes every Cloudflare object of the set, including
	// orphans the cluster no longer knows about.
	Teardown bool

	// BaseURL of the API; empty means the SDK's default, or
	// CLOUDFLARE_BASE_URL when set.
	BaseURL string
	// HTTPClient replaces the SDK's default client.
	HTTPClient *http.Client
	// MaxRetries bounds the SDK's retries of 408, 409, 429 and 5xx
	// answers: 0 means 4, a negative number means none.
	MaxRetries int
	// Logger receives one line per change at info level and one per API
	// request at debug level; nil discards.
	Logger *slog.Logger
	// Limiter paces requests; nil means NewLimiter(), which keeps under
	// Cloudflare's 1,200 requests per 5 minutes.
	Limiter *rate.Limiter
}

// Backend plans the Cloudflare side of one run.
type Backend struct {
	cfg     *config.Config
	cluster Cluster
	opts    Options
	client  *cf.Client
	log     *slog.Logger
}

// exitUsage is the exit code of errors found before anything changed.
const exitUsage = 2

// UsageError is a Cloudflare setting that cannot work. Nothing has been
// changed when one is returned.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ExitCode maps the error to the usage exit code.
func (e *UsageError) ExitCode() int { return exitUsage }

// LimitError refuses a scale that would exceed Cloudflare's limit of
// Access applications per account. It is returned before any write.
type LimitError struct {
	// Existing applications in the account, deskctl's and others'.
	Existing int
	// Needed is how many more this run would create.
	Needed int
	// Removed is how many of this set's applications the run deletes.
	Removed int
	// Limit is Cloudflare's limit.
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("Cloudflare Access allows at most %d applications per account: "+
		"%d exist and this scale needs %d more (%d removed), %d in all. "+
		"Set cloudflare.access.mode: wildcard, which serves every desktop of the set "+
		"with one application", e.Limit, e.Existing, e.Needed, e.Removed,
		e.Existing+e.Needed-e.Removed)
}

// ExitCode maps the error to the usage exit code.
func (e *LimitError) ExitCode() int { return exitUsage }

// MaxApplications is Cloudflare's limit of Access applications per account.
const MaxApplications = 500

// New returns the backend. It does no I/O.
func New(cfg *config.Config, cluster Cluster, opts Options) (*Backend, error) {
	if cfg == nil || !cfg.Cloudflare.Enabled {
		return nil, &UsageError{Msg: "the Cloudflare backend needs cloudflare.enabled: true"}
	}
	if cfg.Cloudflare.APIToken == "" {
		return nil, &UsageError{Msg: "cloudflare.enabled is true but there is no API token: " +
			"set CLOUDFLARE_API_TOKEN or cloudflare.apiTokenFile"}
	}
	if cluster == nil {
		return nil, errors.New("the Cloudflare backend needs the cluster backend")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lim := opts.Limiter
	if lim == nil {
		lim = NewLimiter()
	}
	client := cf.NewClient(clientOptions(opts, cfg.Cloudflare.APIToken, lim, log)...)
	return &Backend{cfg: cfg, cluster: cluster, opts: opts, client: client,
		log: log.With("backend", "cloudflare")}, nil
}

// Name identifies the backend in plans and errors.
func (b *Backend) Name() string { return "cloudflare" }

// owner names the cluster, namespace and set that own an object. Its
// markers are how deskctl finds its objects again and leaves others alone.
type owner struct{ cluster, namespace, set string }

// maxComment is the longest DNS record comment on Free plans.
const maxComment = 100

// comment is the marker in every record comment.
func (o owner) comment() string {
	c := "deskctl cluster=" + o.cluster + " namespace=" + o.namespace + " set=" + o.set
	if len(c) <= maxComment {
		return c
	}
	sum := sha256.Sum256([]byte(o.cluster + "/" + o.namespace + "/" + o.set))
	return "deskctl owner=" + hex.EncodeToString(sum[:16])
}

// prefix starts the name of every Access application and policy.
func (o owner) prefix() string {
	return "deskctl " + o.namespace + "/" + o.set + " " + o.cluster + " "
}

// dnsRecord is a DNS record as listed.
type dnsRecord struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Content string `json:"content"`
	Proxied bool   `json:"proxied"`
	Comment string `json:"comment"`
}

// accessApp is an Access application as listed.
type accessApp struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Domain          string `json:"domain"`
	Type            string `json:"type"`
	AUD             string `json:"aud"`
	SessionDuration string `json:"session_duration"`
	Policies        []struct {
		ID         string `json:"id"`
		Precedence int    `json:"precedence"`
	} `json:"policies"`
}

// accessPolicy is a reusable Access policy as listed.
type accessPolicy struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Decision string            `json:"decision"`
	Include  []json.RawMessage `json:"include"`
}

// tunnel is a Cloudflare Tunnel as listed.
type tunnel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ingressRule is one rule of a tunnel's configuration, as deskctl writes it.
type ingressRule struct {
	Hostname      string         `json:"hostname,omitempty"`
	Service       string         `json:"service"`
	OriginRequest *originRequest `json:"originRequest,omitempty"`
}

// originRequest holds the one origin setting deskctl uses.
type originRequest struct {
	Access *originAccess `json:"access,omitempty"`
}

// originAccess makes cloudflared check the Access token of a request.
type originAccess struct {
	Required bool     `json:"required"`
	TeamName string   `json:"teamName"`
	AUDTag   []string `json:"audTag"`
}

// observed is what exists, read with a constant number of list calls.
type observed struct {
	state  *desktop.ClusterState
	owner  owner
	zoneID string

	// records are this set's records by name; others are everyone
	// else's records under the domain, by name.
	records map[string]dnsRecord
	others  map[string]dnsRecord

	// apps are this set's applications by name (a failed run may leave
	// two of a name); appCount counts every application of the account.
	apps     map[string][]accessApp
	appCount int

	// policies are this set's reusable policies by name; policyCount
	// counts every reusable policy of the account.
	policies map[string]accessPolicy
	// extraPolicies are further policies of a name already in policies.
	extraPolicies []accessPolicy
	policyCount   int

	// tunnel is the set's tunnel, nil when absent; rules its ingress.
	tunnel *tunnel
	rules  []ingressRule
}

func (b *Backend) account() string { return b.cfg.Cloudflare.AccountID }

// observe reads the cluster state and this set's Cloudflare objects.
func (b *Backend) observe(ctx context.Context) (*observed, error) {
	st, err := b.cluster.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster state: %w", err)
	}
	if st.ClusterID == "" {
		return nil, errors.New("the cluster has no ID to mark Cloudflare objects with")
	}
	o := &observed{
		state:    st,
		owner:    owner{cluster: st.ClusterID, namespace: b.cfg.Namespace, set: b.cfg.Name},
		records:  map[string]dnsRecord{},
		others:   map[string]dnsRecord{},
		apps:     map[string][]accessApp{},
		policies: map[string]accessPolicy{},
	}
	if o.zoneID, err = b.zoneID(ctx); err != nil {
		return nil, err
	}
	if err := b.observeDNS(ctx, o); err != nil {
		return nil, err
	}
	if err := b.observeAccess(ctx, o); err != nil {
		return nil, err
	}
	if b.cfg.Expose.Mode == config.ExposeTunnel || b.opts.Teardown {
		if err := b.observeTunnel(ctx, o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// zoneID resolves cloudflare.zone unless cloudflare.zoneID is set.
func (b *Backend) zoneID(ctx context.Context) (string, error) {
	if id := b.cfg.Cloudflare.ZoneID; id != "" {
		return id, nil
	}
	name := b.cfg.Cloudflare.Zone
	res, err := b.client.Zones.List(ctx, zones.ZoneListParams{
		Name:    cf.F(name),
		Account: cf.F(zones.ZoneListParamsAccount{ID: cf.F(b.account())}),
	})
	if err != nil {
		return "", fmt.Errorf("looking up zone %s: %w", name, err)
	}
	var page struct {
		Result []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(res.JSON.RawJSON()), &page); err != nil {
		return "", fmt.Errorf("reading zone %s: %w", name, err)
	}
	for _, z := range page.Result {
		if z.Name == name {
			return z.ID, nil
		}
	}
	return "", &UsageError{Msg: fmt.Sprintf("cloudflare.zone %q is not a zone of account %s "+
		"that the API token can read", name, b.account())}
}

func (b *Backend) observeDNS(ctx context.Context, o *observed) error {
	list, err := listAll[dnsRecord](func(page int64) (string, error) {
		res, err := b.client.DNS.Records.List(ctx, dns.RecordListParams{
			ZoneID:  cf.F(o.zoneID),
			Name:    cf.F(dns.RecordListParamsName{Endswith: cf.F("." + b.cfg.Domain)}),
			Page:    cf.F(float64(page)),
			PerPage: cf.F(float64(pageSize)),
		})
		if err != nil {
			return "", err
		}
		return res.JSON.RawJSON(), nil
	})
	if err != nil {
		return fmt.Errorf("listing DNS records under %s: %w", b.cfg.Domain, err)
	}
	marker := o.owner.comment()
	for _, r := range list {
		if r.Comment == marker {
			o.records[r.Name] = r
		} else {
			o.others[r.Name] = r
		}
	}
	return nil
}

func (b *Backend) observeAccess(ctx context.Context, o *observed) error {
	apps, err := listAll[accessApp](func(page int64) (string, error) {
		res, err := b.client.ZeroTrust.Access.Applications.List(ctx, zero_trust.AccessApplicationListParams{
			AccountID: cf.F(b.account()),
			Page:      cf.F(page),
			PerPage:   cf.F(int64(pageSize)),
		})
		if err != nil {
			return "", err
		}
		return res.JSON.RawJSON(), nil
	})
	if err != nil {
		return fmt.Errorf("listing Access applications: %w", err)
	}
	prefix := o.owner.prefix()
	o.appCount = len(apps)
	for _, a := range apps {
		if strings.HasPrefix(a.Name, prefix) {
			o.apps[a.Name] = append(o.apps[a.Name], a)
		}
	}

	policies, err := listAll[accessPolicy](func(page int64) (string, error) {
		res, err := b.client.ZeroTrust.Access.Policies.List(ctx, zero_trust.AccessPolicyListParams{
			AccountID: cf.F(b.account()),
			Page:      cf.F(page),
			PerPage:   cf.F(int64(pageSize)),
		})
		if err != nil {
			return "", err
		}
		return res.JSON.RawJSON(), nil
	})
	if err != nil {
		return fmt.Errorf("listing Access policies: %w", err)
	}
	o.policyCount = len(policies)
	for _, p := range policies {
		if !strings.HasPrefix(p.Name, prefix) {
			continue
		}
		if _, dup := o.policies[p.Name]; dup {
			o.extraPolicies = append(o.extraPolicies, p)
		} else {
			o.policies[p.Name] = p
		}
	}
	return nil
}

func (b *Backend) observeTunnel(ctx context.Context, o *observed) error {
	name := b.cfg.TunnelName()
	res, err := b.client.ZeroTrust.Tunnels.Cloudflared.List(ctx, zero_trust.TunnelCloudflaredListParams{
		AccountID: cf.F(b.account()),
		Name:      cf.F(name),
		IsDeleted: cf.F(false),
	})
	if err != nil {
		return fmt.Errorf("looking up tunnel %s: %w", name, err)
	}
	var page struct {
		Result []tunnel `json:"result"`
	}
	if err := json.Unmarshal([]byte(res.JSON.RawJSON()), &page); err != nil {
		return fmt.Errorf("reading tunnel %s: %w", name, err)
	}
	for _, t := range page.Result {
		if t.Name == name {
			o.tunnel = &t
			break
		}
	}
	if o.tunnel == nil || b.opts.Teardown {
		return nil
	}
	got, err := b.client.ZeroTrust.Tunnels.Cloudflared.Configurations.Get(ctx, o.tunnel.ID,
		zero_trust.TunnelCloudflaredConfigurationGetParams{AccountID: cf.F(b.account())})
	if err != nil {
		return fmt.Errorf("reading the configuration of tunnel %s: %w", name, err)
	}
	var conf struct {
		Config struct {
			Ingress []ingressRule `json:"ingress"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(got.JSON.RawJSON()), &conf); err != nil {
		return fmt.Errorf("reading the configuration of tunnel %s: %w", name, err)
	}
	o.rules = conf.Config.Ingress
	return nil
}
