package cloudflare

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/plan"
)

// Stages of the Cloudflare steps. Withdrawal goes outside in: DNS first,
// then Access, so a host never resolves while its application is gone.
// Publication goes inside out: policies, then applications, then DNS.
const (
	stageTunnel      = plan.StageSet
	stageDNSWithdraw = plan.StageUnpublish
	stageAppWithdraw = plan.StageUnpublish + 1
	stageCloudflared = plan.StageWorkload
	stagePolicies    = plan.StagePublish
	stageApps        = plan.StagePublish + 1
	stageDNSPublish  = plan.StagePublish + 2
	stageGateway     = plan.StageGatewayConfig
	stageCleanup     = plan.StageCleanup
)

// Kinds of Cloudflare objects in plan changes.
const (
	KindDNSRecord      = "DNSRecord"
	KindApplication    = "AccessApplication"
	KindPolicy         = "AccessPolicy"
	KindTunnel         = "CloudflareTunnel"
	KindTunnelConfig   = "TunnelConfiguration"
	KindConfigMap      = "ConfigMap"
	KindSecret         = "Secret"
	KindDeployment     = "Deployment"
	maxBatch           = 200
	wildcardAppDesktop = "*"
)

// policySpec is a desired reusable policy.
type policySpec struct {
	name    string
	desktop string
	include []map[string]map[string]string
}

// linkSpec links a policy, by name, to an application.
type linkSpec struct {
	policy     string
	precedence int
}

// appSpec is a desired Access application.
type appSpec struct {
	name    string
	domain  string
	desktop string
	links   []linkSpec
}

// want is the desired Cloudflare state of the run.
type want struct {
	desktops []desktop.Desktop
	policies map[string]policySpec
	apps     map[string]appSpec
	// appOf names the application that guards each desktop.
	appOf map[string]string
	// content maps each host to its CNAME target; "" means the tunnel's,
	// known only once the tunnel exists.
	content map[string]string
	// waiting lists the desktops whose load balancer has no address yet.
	waiting []string
	users   map[string][]string
}

// runState carries what steps learn while the plan runs: the IDs and AUDs
// of the objects they create.
type runState struct {
	mu        sync.Mutex
	policyIDs map[string]string
	auds      map[string]string
	tunnelID  string
}

func (r *runState) policyID(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.policyIDs[name]
}

func (r *runState) setPolicyID(name, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.policyIDs[name] = id
}

func (r *runState) aud(app string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.auds[app]
}

func (r *runState) setAUD(app, aud string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auds[app] = aud
}

func (r *runState) tunnel() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tunnelID
}

func (r *runState) setTunnel(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tunnelID = id
}

func (b *Backend) wildcard() bool { return b.cfg.Cloudflare.Access.Mode == config.AccessWildcard }

// desired computes the Cloudflare objects the run wants.
func (b *Backend) desired(o *observed) *want {
	w := &want{policies: map[string]policySpec{}, apps: map[string]appSpec{},
		appOf: map[string]string{}, content: map[string]string{}, users: map[string][]string{}}
	if b.opts.Teardown {
		return w
	}
	w.desktops = b.opts.Desktops
	prefix := o.owner.prefix()

	allow := prefix + "allow"
	w.policies[allow] = policySpec{name: allow, include: allowRules(b.cfg.Cloudflare.Allow)}

	wildcardApp := prefix + wildcardAppDesktop
	if b.wildcard() {
		w.apps[wildcardApp] = appSpec{name: wildcardApp, domain: "*." + b.cfg.Domain,
			links: []linkSpec{{policy: allow, precedence: 1}}}
	}
	for _, d := range w.desktops {
		users := normalUsers(o.state.Users[d.Name])
		if len(users) > 0 {
			w.users[d.Name] = users
		}
		if b.wildcard() {
			w.appOf[d.Name] = wildcardApp
		} else {
			app := appSpec{name: prefix + d.Name, domain: d.Host, desktop: d.Name}
			if len(users) > 0 {
				p := policySpec{name: prefix + "users " + d.Name, desktop: d.Name}
				for _, u := range users {
					p.include = append(p.include, map[string]map[string]string{"email": {"email": u}})
				}
				w.policies[p.name] = p
				app.links = append(app.links, linkSpec{policy: p.name, precedence: 1})
			} else {
				// An assigned desktop admits its users only: the gateway
				// would refuse anyone else the set-wide policy let through.
				app.links = append(app.links, linkSpec{policy: allow, precedence: 1})
			}
			w.apps[app.name] = app
			w.appOf[d.Name] = app.name
		}

		switch b.cfg.Expose.Mode {
		case config.ExposeALB:
			lb := o.state.LoadBalancers[d.Group]
			if lb == "" {
				w.waiting = append(w.waiting, d.Name)
				continue
			}
			w.content[d.Host] = lb
		case config.ExposeTunnel:
			w.content[d.Host] = ""
			if o.tunnel != nil {
				w.content[d.Host] = tunnelTarget(o.tunnel.ID)
			}
		}
	}
	return w
}

func tunnelTarget(id string) string { return id + ".cfargotunnel.com" }

// allowRules turns cloudflare.allow into policy include rules.
func allowRules(a config.Allow) []map[string]map[string]string {
	var out []map[string]map[string]string
	for _, e := range a.Emails {
		out = append(out, map[string]map[string]string{"email": {"email": e}})
	}
	for _, d := range a.EmailDomains {
		out = append(out, map[string]map[string]string{"email_domain": {"domain": d}})
	}
	for _, g := range a.Groups {
		out = append(out, map[string]map[string]string{"group": {"id": g}})
	}
	return out
}

// normalUsers sorts and de-duplicates assigned emails.
func normalUsers(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

// Plan observes Cloudflare and the cluster with a constant number of list
// calls and returns the steps that reach the desired state. It writes
// nothing, and refuses a scale past Cloudflare's application limit.
func (b *Backend) Plan(ctx context.Context) ([]plan.Step, error) {
	o, err := b.observe(ctx)
	if err != nil {
		return nil, err
	}
	w := b.desired(o)
	if err := b.check(o, w); err != nil {
		return nil, err
	}
	for _, name := range w.waiting {
		b.log.Info("waiting for the load balancer's address; a re-run adds the DNS record",
			"desktop", name)
	}

	rs := &runState{policyIDs: map[string]string{}, auds: map[string]string{}}
	for name, p := range o.policies {
		rs.policyIDs[name] = p.ID
	}
	for name, apps := range o.apps {
		rs.auds[name] = apps[0].AUD
	}
	if o.tunnel != nil {
		rs.tunnelID = o.tunnel.ID
	}

	var steps []plan.Step
	steps = append(steps, b.tunnelSteps(ctx, o, rs)...)
	steps = append(steps, b.policySteps(o, w, rs)...)
	appSteps, creates := b.appSteps(o, w, rs)
	steps = append(steps, appSteps...)
	steps = append(steps, b.dnsSteps(o, w, rs)...)
	steps = append(steps, b.gatewaySteps(o, w, rs, creates)...)
	steps = append(steps, b.tunnelConfigSteps(o, w, rs, creates)...)

	// Each step is one request; past the limiter's burst they are paced.
	if n := len(steps); n > limiterBurst {
		wait := time.Duration(float64(n-limiterBurst)/float64(limiterRate)) * time.Second
		b.log.Info("this run makes many Cloudflare requests; pacing keeps them under "+
			"Cloudflare's 1,200 per 5 minutes", "requests", n, "at_least", wait.Round(time.Second))
	}
	return steps, nil
}

// check refuses, before any write, what cannot succeed: a scale past the
// application limit, and hosts already taken by someone else's records.
func (b *Backend) check(o *observed, w *want) error {
	creates, removes := 0, 0
	for name := range w.apps {
		if len(o.apps[name]) == 0 {
			creates++
		}
	}
	for name, apps := range o.apps {
		if _, keep := w.apps[name]; !keep {
			removes += len(apps)
		} else {
			removes += len(apps) - 1
		}
	}
	if creates > 0 && o.appCount+creates-removes > MaxApplications {
		return &LimitError{Existing: o.appCount, Needed: creates, Removed: removes,
			Limit: MaxApplications}
	}

	newPolicies := 0
	for name := range w.policies {
		if _, ok := o.policies[name]; !ok {
			newPolicies++
		}
	}
	if newPolicies > 0 && o.policyCount+newPolicies > MaxPolicies {
		return &UsageError{Msg: fmt.Sprintf("Cloudflare Access allows at most %d reusable policies "+
			"per account: %d exist and this run needs %d more, one per assigned desktop",
			MaxPolicies, o.policyCount, newPolicies)}
	}

	for _, d := range w.desktops {
		if r, taken := o.others[d.Host]; taken {
			return &UsageError{Msg: fmt.Sprintf("desktop %s: host %s already has a %s record "+
				"that this set does not own (comment %q): remove it, or change domain or hostPattern",
				d.Name, d.Host, r.Type, r.Comment)}
		}
	}
	return nil
}

// MaxPolicies is Cloudflare's limit of reusable Access policies per account.
const MaxPolicies = 500

// logChange logs one applied change as key=value pairs.
func (b *Backend) logChange(c plan.Change, host string) {
	attrs := []any{"action", string(c.Action), "kind", c.Kind, "name", c.Name}
	if c.Desktop != "" {
		attrs = append([]any{"desktop", c.Desktop}, attrs...)
	}
	if host != "" {
		attrs = append(attrs, "host", host)
	}
	b.log.Info("cloudflare change applied", attrs...)
}

func change(kind, name, desk string, action plan.Action, detail string, obj any) plan.Change {
	return plan.Change{Backend: "cloudflare", Kind: kind, Name: name, Desktop: desk,
		Action: action, Detail: detail, Object: obj}
}

// sameRules compares include rules as JSON values, whatever their types.
func sameRules(want []map[string]map[string]string, got []json.RawMessage) bool {
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	return reflect.DeepEqual(x, y)
}

// sameDuration compares two duration strings such as 24h and 24h0m0s.
func sameDuration(a, b string) bool {
	x, err1 := time.ParseDuration(a)
	y, err2 := time.ParseDuration(b)
	return err1 == nil && err2 == nil && x == y
}

// appDrift says how an application differs from its spec, "" if it does
// not. Links to policies not created yet count as a difference.
func (b *Backend) appDrift(a accessApp, s appSpec, policyIDs map[string]string) string {
	var diffs []string
	if a.Domain != s.domain {
		diffs = append(diffs, "domain")
	}
	if a.Type != "" && a.Type != "self_hosted" {
		diffs = append(diffs, "type")
	}
	if !sameDuration(a.SessionDuration, b.sessionDuration()) {
		diffs = append(diffs, "session duration")
	}
	links := map[string]int{}
	for _, p := range a.Policies {
		links[p.ID] = p.Precedence
	}
	same := len(links) == len(s.links)
	for _, l := range s.links {
		id := policyIDs[l.policy]
		if p, ok := links[id]; id == "" || !ok || p != l.precedence {
			same = false
		}
	}
	if !same {
		diffs = append(diffs, "policies")
	}
	return strings.Join(diffs, ", ")
}

func (b *Backend) sessionDuration() string {
	return b.cfg.Cloudflare.Access.SessionDuration.String()
}

// chunk splits n items into runs of at most size.
func chunk(n, size int) [][2]int {
	var out [][2]int
	for i := 0; i < n; i += size {
		out = append(out, [2]int{i, min(i+size, n)})
	}
	return out
}
