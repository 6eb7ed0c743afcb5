package cloudflare

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/deskctl/deskctl/internal/cloudflare/cftest"
	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/plan"
)

// memCluster is an in-memory Cluster. It checks, on every write of the
// gateway ConfigMap, that each AUD it names belongs to an application
// that exists at that moment.
type memCluster struct {
	t   testing.TB
	srv *cftest.Server

	mu      sync.Mutex
	state   desktop.ClusterState
	objects map[string]runtime.Object
	writes  int
	// configWrites records, for each write of the gateway ConfigMap, how
	// many desktops it lists and how many API requests came before it.
	configWrites []configWrite
}

type configWrite struct{ desktops, requestsBefore int }

func newMemCluster(t testing.TB, srv *cftest.Server) *memCluster {
	return &memCluster{t: t, srv: srv, objects: map[string]runtime.Object{},
		state: desktop.ClusterState{ClusterID: "5b8e2a40-1c1f-4f4e-9a55-0c7d3c1f0e11",
			LoadBalancers: map[string]string{}, Users: map[string][]string{}}}
}

func key(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%T/%s/%s", obj, m.GetNamespace(), m.GetName())
}

func (c *memCluster) State(context.Context) (*desktop.ClusterState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state
	st.LoadBalancers = maps.Clone(c.state.LoadBalancers)
	st.Users = maps.Clone(c.state.Users)
	st.Access = nil
	for _, obj := range c.objects {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			var ac desktop.AccessConfig
			if err := json.Unmarshal([]byte(cm.Data[desktop.AccessConfigKey]), &ac); err != nil {
				return nil, err
			}
			st.Access = &ac
		}
	}
	return &st, nil
}

func (c *memCluster) Apply(_ context.Context, obj runtime.Object) error {
	var w *configWrite
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		n := c.checkAUDs(cm)
		w = &configWrite{desktops: n, requestsBefore: len(c.srv.Requests())}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if w != nil {
		c.configWrites = append(c.configWrites, *w)
	}
	c.objects[key(obj)] = obj
	c.writes++
	return nil
}

// Current returns the stored object of the same kind and name, or nil.
func (c *memCluster) Current(_ context.Context, obj runtime.Object) (runtime.Object, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.objects[key(obj)]; ok {
		return cur, nil
	}
	return nil, nil
}

func (c *memCluster) Delete(_ context.Context, obj runtime.Object) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.objects, key(obj))
	c.writes++
	return nil
}

// checkAUDs fails the test when the ConfigMap names an application that
// does not exist. It returns how many desktops the ConfigMap lists.
func (c *memCluster) checkAUDs(cm *corev1.ConfigMap) int {
	var ac desktop.AccessConfig
	if err := json.Unmarshal([]byte(cm.Data[desktop.AccessConfigKey]), &ac); err != nil {
		c.t.Errorf("gateway ConfigMap is not JSON: %v", err)
		return 0
	}
	exists := map[string]bool{}
	for _, a := range c.srv.Apps() {
		exists[a.AUD] = true
	}
	for _, aud := range ac.AUD {
		if !exists[aud] {
			c.t.Errorf("gateway ConfigMap names AUD %s of no application", aud)
		}
	}
	for name, d := range ac.Desktops {
		for _, aud := range d.AUD {
			if !exists[aud] {
				c.t.Errorf("gateway ConfigMap names AUD %s for %s, of no application", aud, name)
			}
		}
	}
	return len(ac.Desktops)
}

func (c *memCluster) access() *desktop.AccessConfig {
	st, err := c.State(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return st.Access
}

func (c *memCluster) secret() *corev1.Secret {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.objects {
		if s, ok := o.(*corev1.Secret); ok {
			return s
		}
	}
	return nil
}

func (c *memCluster) deployment() *appsv1.Deployment {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.objects {
		if d, ok := o.(*appsv1.Deployment); ok {
			return d
		}
	}
	return nil
}

// harness runs the backend against the fake and the in-memory cluster.
type harness struct {
	t       testing.TB
	srv     *cftest.Server
	cluster *memCluster
	cfg     *config.Config
	retries int
	log     *slog.Logger
}

func newHarness(t testing.TB, opts ...cftest.Option) *harness {
	srv := cftest.New(t, opts...)
	h := &harness{t: t, srv: srv, cluster: newMemCluster(t, srv), retries: -1,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h.cfg = &config.Config{
		Name: "desk", Namespace: "desktops", Domain: srv.Zone, HostPattern: "pod{{.Ordinal}}",
		Replicas: 1, MaxReplicas: 2000,
		Expose: config.Expose{Mode: config.ExposeALB, IngressClass: "alb",
			ALB: config.ALB{MaxDesktopsPerGroup: 50, IdleTimeoutSeconds: 3600}},
		Cloudflare: config.Cloudflare{
			Enabled: true, AccountID: srv.AccountID, Zone: srv.Zone,
			TeamDomain: "myteam.cloudflareaccess.com",
			Access:     config.CloudflareAccess{Mode: config.AccessPerDesktop, SessionDuration: 24 * time.Hour},
			Allow:      config.Allow{EmailDomains: []string{"example.com"}, Emails: []string{"admin@corp.test"}},
			Tunnel:     config.Tunnel{Image: "cloudflare/cloudflared:2025.11.1"},
			APIToken:   srv.Token,
		},
	}
	return h
}

func (h *harness) desktops(n int) []desktop.Desktop {
	ds, err := h.cfg.Set().Desktops(n)
	if err != nil {
		h.t.Fatal(err)
	}
	// Every group's load balancer has its address, as the AWS controller
	// would report it.
	h.cluster.mu.Lock()
	for _, d := range ds {
		if _, ok := h.cluster.state.LoadBalancers[d.Group]; !ok {
			h.cluster.state.LoadBalancers[d.Group] = "k8s-" + d.Group + ".elb.amazonaws.com"
		}
	}
	h.cluster.mu.Unlock()
	return ds
}

func (h *harness) backend(opts Options) *Backend {
	opts.BaseURL = h.srv.URL
	opts.MaxRetries = h.retries
	opts.Logger = h.log
	opts.Limiter = rate.NewLimiter(rate.Inf, 0)
	b, err := New(h.cfg, h.cluster, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// run plans and applies one pass for n desktops (teardown when n < 0).
func (h *harness) run(n int) error {
	opts := Options{Teardown: n < 0}
	if n >= 0 {
		opts.Desktops = h.desktops(n)
	}
	ctx := context.Background()
	p, err := plan.Build(ctx, h.backend(opts))
	if err != nil {
		return err
	}
	return p.Apply(ctx, plan.ApplyOptions{})
}

func (h *harness) mustRun(n int) {
	h.t.Helper()
	if err := h.run(n); err != nil {
		h.t.Fatalf("run with %d desktops: %v", n, err)
	}
}

// owned returns the records and applications carrying this set's markers.
func (h *harness) owned() ([]cftest.DNSRecord, []cftest.App) {
	o := owner{cluster: h.cluster.state.ClusterID, namespace: h.cfg.Namespace, set: h.cfg.Name}
	var recs []cftest.DNSRecord
	for _, r := range h.srv.Records() {
		if r.Comment == o.comment() {
			recs = append(recs, r)
		}
	}
	var apps []cftest.App
	for _, a := range h.srv.Apps() {
		if len(a.Name) > len(o.prefix()) && a.Name[:len(o.prefix())] == o.prefix() {
			apps = append(apps, a)
		}
	}
	return recs, apps
}
