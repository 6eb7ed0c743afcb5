package cloudflare

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	cf "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/plan"
)

// policySteps creates and updates the set-wide and per-desktop policies
// before the applications link them, and deletes unused ones last.
func (b *Backend) policySteps(o *observed, w *want, rs *runState) []plan.Step {
	var steps []plan.Step
	for _, name := range sortedNames(w.policies) {
		spec := w.policies[name]
		cur, exists := o.policies[name]
		if exists && cur.Decision == "allow" && sameRules(spec.include, cur.Include) {
			continue
		}
		action, detail := plan.Create, ""
		if exists {
			action, detail = plan.Update, "admission"
		}
		c := change(KindPolicy, name, spec.desktop, action, detail, spec.include)
		steps = append(steps, plan.Step{Stage: stagePolicies, Desktop: spec.desktop,
			Changes: []plan.Change{c},
			Run: func(ctx context.Context) error {
				id, err := b.savePolicy(ctx, cur.ID, spec)
				if err != nil {
					return err
				}
				rs.setPolicyID(name, id)
				b.logChange(c, "")
				return nil
			}})
	}
	unwanted := o.extraPolicies
	for _, name := range sortedNames(o.policies) {
		if _, keep := w.policies[name]; !keep {
			unwanted = append(unwanted, o.policies[name])
		}
	}
	for _, p := range unwanted {
		c := change(KindPolicy, p.Name, "", plan.Delete, "", nil)
		steps = append(steps, plan.Step{Stage: stageCleanup, Changes: []plan.Change{c},
			Run: func(ctx context.Context) error {
				_, err := b.client.ZeroTrust.Access.Policies.Delete(ctx, p.ID,
					zero_trust.AccessPolicyDeleteParams{AccountID: cf.F(b.account())})
				if err == nil {
					b.logChange(c, "")
				}
				return err
			}})
	}
	return steps
}

func (b *Backend) savePolicy(ctx context.Context, id string, spec policySpec) (string, error) {
	var rules []zero_trust.AccessRuleUnionParam
	for _, r := range spec.include {
		switch {
		case r["email"] != nil:
			rules = append(rules, zero_trust.EmailRuleParam{Email: cf.F(
				zero_trust.EmailRuleEmailParam{Email: cf.F(r["email"]["email"])})})
		case r["email_domain"] != nil:
			rules = append(rules, zero_trust.DomainRuleParam{EmailDomain: cf.F(
				zero_trust.DomainRuleEmailDomainParam{Domain: cf.F(r["email_domain"]["domain"])})})
		case r["group"] != nil:
			rules = append(rules, zero_trust.GroupRuleParam{Group: cf.F(
				zero_trust.GroupRuleGroupParam{ID: cf.F(r["group"]["id"])})})
		}
	}
	if id == "" {
		res, err := b.client.ZeroTrust.Access.Policies.New(ctx, zero_trust.AccessPolicyNewParams{
			AccountID: cf.F(b.account()),
			Name:      cf.F(spec.name),
			Decision:  cf.F(zero_trust.DecisionAllow),
			Include:   cf.F(rules),
		})
		if err != nil {
			return "", err
		}
		return res.ID, nil
	}
	_, err := b.client.ZeroTrust.Access.Policies.Update(ctx, id, zero_trust.AccessPolicyUpdateParams{
		AccountID: cf.F(b.account()),
		Name:      cf.F(spec.name),
		Decision:  cf.F(zero_trust.DecisionAllow),
		Include:   cf.F(rules),
	})
	return id, err
}

// appSteps creates and updates applications after their policies, and
// deletes unwanted ones after their DNS records are gone. It also reports
// whether any application is created, whose AUD is known only then.
func (b *Backend) appSteps(o *observed, w *want, rs *runState) ([]plan.Step, bool) {
	var steps []plan.Step
	creates := false
	policyIDs := map[string]string{}
	for name, p := range o.policies {
		policyIDs[name] = p.ID
	}
	for _, name := range sortedNames(w.apps) {
		spec := w.apps[name]
		var cur accessApp
		action, detail := plan.Create, ""
		if apps := o.apps[name]; len(apps) > 0 {
			cur = apps[0]
			if detail = b.appDrift(cur, spec, policyIDs); detail == "" {
				continue
			}
			action = plan.Update
		} else {
			creates = true
		}
		c := change(KindApplication, name, spec.desktop, action, detail, spec.domain)
		steps = append(steps, plan.Step{Stage: stageApps, Desktop: spec.desktop,
			Changes: []plan.Change{c},
			Run: func(ctx context.Context) error {
				aud, err := b.saveApp(ctx, cur.ID, spec, rs)
				if err != nil {
					return err
				}
				rs.setAUD(name, aud)
				b.logChange(c, spec.domain)
				return nil
			}})
	}

	// Delete what is no longer wanted, and duplicates a failed run left.
	for _, name := range sortedNames(o.apps) {
		apps := o.apps[name]
		if _, keep := w.apps[name]; keep {
			apps = apps[1:]
		}
		for _, a := range apps {
			// The name ends in the desktop's, or in * for the wildcard.
			desk := strings.TrimPrefix(name, o.owner.prefix())
			if desk == wildcardAppDesktop {
				desk = ""
			}
			c := change(KindApplication, name, desk, plan.Delete, "", nil)
			steps = append(steps, plan.Step{Stage: stageAppWithdraw, Desktop: desk,
				Changes: []plan.Change{c},
				Run: func(ctx context.Context) error {
					_, err := b.client.ZeroTrust.Access.Applications.Delete(ctx, a.ID,
						zero_trust.AccessApplicationDeleteParams{AccountID: cf.F(b.account())})
					if err == nil {
						b.logChange(c, a.Domain)
					}
					return err
				}})
		}
	}
	return steps, creates
}

func (b *Backend) saveApp(ctx context.Context, id string, spec appSpec, rs *runState) (string, error) {
	if id == "" {
		var links []zero_trust.AccessApplicationNewParamsBodySelfHostedApplicationPolicyUnion
		for _, l := range spec.links {
			links = append(links, appNewLink{
				ID: cf.F(rs.policyID(l.policy)), Precedence: cf.F(int64(l.precedence))})
		}
		res, err := b.client.ZeroTrust.Access.Applications.New(ctx, zero_trust.AccessApplicationNewParams{
			AccountID: cf.F(b.account()),
			Body: zero_trust.AccessApplicationNewParamsBodySelfHostedApplication{
				Name:               cf.F(spec.name),
				Domain:             cf.F(spec.domain),
				Type:               cf.F(zero_trust.ApplicationTypeSelfHosted),
				SessionDuration:    cf.F(b.sessionDuration()),
				AppLauncherVisible: cf.F(false),
				Policies:           cf.F(links),
			},
		})
		if err != nil {
			return "", err
		}
		return res.AUD, nil
	}
	var links []zero_trust.AccessApplicationUpdateParamsBodySelfHostedApplicationPolicyUnion
	for _, l := range spec.links {
		links = append(links, appUpdateLink{
			ID: cf.F(rs.policyID(l.policy)), Precedence: cf.F(int64(l.precedence))})
	}
	apps := b.client.ZeroTrust.Access.Applications
	res, err := apps.Update(ctx, id, zero_trust.AccessApplicationUpdateParams{
		AccountID: cf.F(b.account()),
		Body: zero_trust.AccessApplicationUpdateParamsBodySelfHostedApplication{
			Name:               cf.F(spec.name),
			Domain:             cf.F(spec.domain),
			Type:               cf.F(zero_trust.ApplicationTypeSelfHosted),
			SessionDuration:    cf.F(b.sessionDuration()),
			AppLauncherVisible: cf.F(false),
			Policies:           cf.F(links),
		},
	})
	if err != nil {
		return "", err
	}
	return res.AUD, nil
}

// Shorter names for the SDK's longest types.
type (
	appNewLink    = zero_trust.AccessApplicationNewParamsBodySelfHostedApplicationPoliciesAccessAppPolicyLink
	appUpdateLink = zero_trust.AccessApplicationUpdateParamsBodySelfHostedApplicationPoliciesAccessAppPolicyLink
	ingressOrigin = zero_trust.TunnelCloudflaredConfigurationUpdateParamsConfigIngressOriginRequest
	ingressAccess = zero_trust.TunnelCloudflaredConfigurationUpdateParamsConfigIngressOriginRequestAccess
)

// dnsOp is one record of a batch.
type dnsOp struct {
	action  plan.Action
	id      string
	host    string
	desktop string
	content string
}

// dnsSteps withdraws records first of all, and publishes them once the
// applications exist, in batches of at most 200 records.
func (b *Backend) dnsSteps(o *observed, w *want, rs *runState) []plan.Step {
	var withdraw, publish []dnsOp
	hostDesktop := map[string]string{}
	for _, d := range w.desktops {
		hostDesktop[d.Host] = d.Name
	}
	for _, host := range sortedNames(o.records) {
		r := o.records[host]
		if _, keep := w.content[host]; keep {
			continue
		}
		// A desktop waiting for its load balancer keeps the record it has.
		if d, wanted := hostDesktop[host]; wanted && slices.Contains(w.waiting, d) {
			continue
		}
		withdraw = append(withdraw, dnsOp{action: plan.Delete, id: r.ID, host: host,
			desktop: desktopName(host, b.cfg.Domain)})
	}
	marker := o.owner.comment()
	for _, host := range sortedNames(w.content) {
		content := w.content[host]
		r, exists := o.records[host]
		op := dnsOp{action: plan.Create, host: host, desktop: hostDesktop[host], content: content}
		if exists {
			if r.Type == "CNAME" && r.Proxied && r.Comment == marker && content != "" &&
				strings.EqualFold(r.Content, content) {
				continue
			}
			op.action, op.id = plan.Update, r.ID
		}
		publish = append(publish, op)
	}

	var steps []plan.Step
	for _, c := range chunk(len(withdraw), maxBatch) {
		steps = append(steps, b.batchStep(stageDNSWithdraw, o, withdraw[c[0]:c[1]], rs))
	}
	for _, c := range chunk(len(publish), maxBatch) {
		steps = append(steps, b.batchStep(stageDNSPublish, o, publish[c[0]:c[1]], rs))
	}
	return steps
}

// desktopName is the desktop part of a host under the domain.
func desktopName(host, domain string) string {
	if n := len(host) - len(domain) - 1; n > 0 && host[n:] == "."+domain {
		return host[:n]
	}
	return host
}

// batchStep is one DNS batch request. Cloudflare applies a batch as a
// whole: deletes, then patches, then posts.
func (b *Backend) batchStep(stage int, o *observed, ops []dnsOp, rs *runState) plan.Step {
	var changes []plan.Change
	for _, op := range ops {
		detail := ""
		if op.action == plan.Update {
			detail = "target"
		}
		changes = append(changes, change(KindDNSRecord, op.host, op.desktop, op.action, detail, op.content))
	}
	desk := ""
	if len(ops) == 1 {
		desk = ops[0].desktop
	}
	marker := o.owner.comment()
	return plan.Step{Stage: stage, Desktop: desk, Changes: changes,
		Run: func(ctx context.Context) error {
			params := dns.RecordBatchParams{ZoneID: cf.F(o.zoneID)}
			var deletes []dns.RecordBatchParamsDelete
			var patches []dns.BatchPatchUnionParam
			var posts []dns.RecordBatchParamsPostUnion
			for _, op := range ops {
				content := op.content
				if content == "" && op.action != plan.Delete {
					if rs.tunnel() == "" {
						return fmt.Errorf("host %s: the tunnel does not exist", op.host)
					}
					content = tunnelTarget(rs.tunnel())
				}
				rec := dns.CNAMERecordParam{
					Name:    cf.F(op.host),
					Type:    cf.F(dns.CNAMERecordTypeCNAME),
					Content: cf.F(content),
					Proxied: cf.F(true),
					TTL:     cf.F(dns.TTL1),
					Comment: cf.F(marker),
				}
				switch op.action {
				case plan.Delete:
					deletes = append(deletes, dns.RecordBatchParamsDelete{ID: cf.F(op.id)})
				case plan.Update:
					patches = append(patches, dns.BatchPatchCNAMERecordParam{ID: cf.F(op.id),
						CNAMERecordParam: rec})
				default:
					posts = append(posts, rec)
				}
			}
			if len(deletes) > 0 {
				params.Deletes = cf.F(deletes)
			}
			if len(patches) > 0 {
				params.Patches = cf.F(patches)
			}
			if len(posts) > 0 {
				params.Posts = cf.F(posts)
			}
			if _, err := b.client.DNS.Records.Batch(ctx, params); err != nil {
				return fmt.Errorf("DNS batch of %d records: %w", len(ops), err)
			}
			for _, c := range changes {
				b.logChange(c, c.Name)
			}
			return nil
		}}
}

// accessConfig builds the gateway configuration from the AUDs known so
// far. With only, it holds just the desktops whose application exists.
func (b *Backend) accessConfig(w *want, auds func(string) string) *desktop.AccessConfig {
	c := &desktop.AccessConfig{TeamDomain: teamDomain(b.cfg), Desktops: map[string]desktop.DesktopAccess{}}
	if b.wildcard() {
		for _, app := range w.apps {
			if aud := auds(app.name); aud != "" {
				c.AUD = []string{aud}
			}
		}
	}
	for _, d := range w.desktops {
		da := desktop.DesktopAccess{Pod: d.Pod, Users: w.users[d.Name]}
		if !b.wildcard() {
			aud := auds(w.appOf[d.Name])
			if aud == "" {
				continue
			}
			da.AUD = []string{aud}
		}
		if len(da.AUD) > 0 || len(da.Users) > 0 {
			c.Desktops[d.Name] = da
		}
	}
	if len(c.Desktops) == 0 {
		c.Desktops = nil
	}
	return c
}

func teamDomain(cfg *config.Config) string {
	host := cfg.Cloudflare.TeamDomain
	for _, p := range []string{"https://", "http://"} {
		if len(host) > len(p) && host[:len(p)] == p {
			host = host[len(p):]
		}
	}
	if n := len(host); n > 0 && host[n-1] == '/' {
		host = host[:n-1]
	}
	return host
}

// teamName is the team part of the team domain, as cloudflared wants it.
func teamName(cfg *config.Config) string {
	host := teamDomain(cfg)
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			return host[:i]
		}
	}
	return host
}

// sameAccess compares two gateway configurations by their JSON.
func sameAccess(a, b *desktop.AccessConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	var p, q any
	_ = json.Unmarshal(x, &p)
	_ = json.Unmarshal(y, &q)
	return reflect.DeepEqual(p, q)
}

// gatewaySteps write the gateway ConfigMap. Before anything is withdrawn,
// it loses the desktops that go; after applications are created, it gains
// their AUDs. The cluster thus never names an application that is absent.
func (b *Backend) gatewaySteps(o *observed, w *want, rs *runState, creates bool) []plan.Step {
	name := desktop.AccessConfigMapName(b.cfg.Name)
	if b.opts.Teardown {
		if o.state.Access == nil {
			return nil
		}
		c := change(KindConfigMap, name, "", plan.Delete, "", nil)
		return []plan.Step{{Stage: stageDNSWithdraw, Changes: []plan.Change{c},
			Run: func(ctx context.Context) error {
				return b.cluster.Delete(ctx, b.configMap(nil))
			}}}
	}

	// What exists already: the applications that stay.
	known := map[string]string{}
	for name, apps := range o.apps {
		if _, keep := w.apps[name]; keep {
			known[name] = apps[0].AUD
		}
	}
	before := b.accessConfig(w, func(app string) string { return known[app] })

	var steps []plan.Step
	if o.state.Access != nil && !sameAccess(before, o.state.Access) {
		c := change(KindConfigMap, name, "", plan.Update, "withdraw desktops", b.configMap(before))
		steps = append(steps, plan.Step{Stage: stageDNSWithdraw, Changes: []plan.Change{c},
			Run: func(ctx context.Context) error {
				return b.cluster.Apply(ctx, b.configMap(before))
			}})
	}
	current := o.state.Access
	if len(steps) > 0 {
		current = before
	}
	if creates || !sameAccess(before, current) {
		action := plan.Update
		if o.state.Access == nil {
			action = plan.Create
		}
		// The dry-run object holds the audiences known before the run.
		c := change(KindConfigMap, name, "", action, "audiences", b.configMap(before))
		steps = append(steps, plan.Step{Stage: stageGateway, Changes: []plan.Change{c},
			Run: func(ctx context.Context) error {
				return b.cluster.Apply(ctx, b.configMap(b.accessConfig(w, rs.aud)))
			}})
	}
	return steps
}

// tunnelSteps create or adopt the tunnel and run cloudflared with its
// token; with Teardown they remove both.
func (b *Backend) tunnelSteps(ctx context.Context, o *observed, rs *runState) []plan.Step {
	name := b.cfg.TunnelName()
	var steps []plan.Step
	if b.opts.Teardown && (o.tunnel != nil || b.cfg.Expose.Mode == config.ExposeTunnel) {
		steps = append(steps, plan.Step{Stage: stageCloudflared, Changes: []plan.Change{
			change(KindDeployment, cloudflaredName(b.cfg.Name), "", plan.Delete, "", nil),
			change(KindSecret, tunnelSecretName(b.cfg.Name), "", plan.Delete, "", nil)},
			Run: func(ctx context.Context) error {
				if err := b.cluster.Delete(ctx, b.cloudflared()); err != nil {
					return err
				}
				return b.cluster.Delete(ctx, b.tunnelSecret("", ""))
			}})
		// A tunnel named in the configuration may serve others: only the
		// one deskctl named itself is deleted.
		if o.tunnel != nil && b.cfg.Cloudflare.Tunnel.Name == "" {
			t := o.tunnel
			c := change(KindTunnel, name, "", plan.Delete, "", nil)
			steps = append(steps, plan.Step{Stage: stageCleanup, Changes: []plan.Change{c},
				Run: func(ctx context.Context) error {
					// Cloudflare refuses to delete a tunnel with connections,
					// which cloudflared pods shutting down may still hold.
					_, err := b.client.ZeroTrust.Tunnels.Cloudflared.Connections.Delete(ctx, t.ID,
						zero_trust.TunnelCloudflaredConnectionDeleteParams{AccountID: cf.F(b.account())})
					if err != nil {
						return fmt.Errorf("closing the connections of tunnel %s: %w", name, err)
					}
					_, err = b.client.ZeroTrust.Tunnels.Cloudflared.Delete(ctx, t.ID,
						zero_trust.TunnelCloudflaredDeleteParams{AccountID: cf.F(b.account())})
					if err == nil {
						b.logChange(c, "")
					}
					return err
				}})
		}
		return steps
	}
	if b.opts.Teardown || b.cfg.Expose.Mode != config.ExposeTunnel {
		return nil
	}

	if o.tunnel == nil {
		c := change(KindTunnel, name, "", plan.Create, "", nil)
		steps = append(steps, plan.Step{Stage: stageTunnel, Changes: []plan.Change{c},
			Run: func(ctx context.Context) error {
				res, err := b.client.ZeroTrust.Tunnels.Cloudflared.New(ctx, zero_trust.TunnelCloudflaredNewParams{
					AccountID: cf.F(b.account()),
					Name:      cf.F(name),
					ConfigSrc: cf.F(zero_trust.TunnelCloudflaredNewParamsConfigSrcCloudflare),
				})
				if err != nil {
					return err
				}
				rs.setTunnel(res.ID)
				b.logChange(c, "")
				return nil
			}})
	}

	secretCurrent, deploymentCurrent := b.tunnelObjectsCurrent(ctx, o)
	if secretCurrent && deploymentCurrent {
		return steps
	}
	var changes []plan.Change
	if !secretCurrent {
		changes = append(changes, change(KindSecret, tunnelSecretName(b.cfg.Name), "",
			plan.Update, "tunnel token", nil))
	}
	if !deploymentCurrent {
		changes = append(changes, change(KindDeployment, cloudflaredName(b.cfg.Name), "",
			plan.Update, "", b.cloudflared()))
	}
	steps = append(steps, plan.Step{Stage: stageCloudflared, Changes: changes,
		Run: func(ctx context.Context) error {
			if !secretCurrent {
				id := rs.tunnel()
				token, err := b.client.ZeroTrust.Tunnels.Cloudflared.Token.Get(ctx, id,
					zero_trust.TunnelCloudflaredTokenGetParams{AccountID: cf.F(b.account())})
				if err != nil {
					return fmt.Errorf("reading the token of tunnel %s: %w", name, err)
				}
				if err := b.cluster.Apply(ctx, b.tunnelSecret(id, *token)); err != nil {
					return err
				}
			}
			if !deploymentCurrent {
				return b.cluster.Apply(ctx, b.cloudflared())
			}
			return nil
		}})
	return steps
}

// tunnelObjectsCurrent reports whether the tunnel Secret holds the token of
// the existing tunnel, and whether the cloudflared Deployment is as
// deskctl would write it. Without an ObjectReader, neither is known.
func (b *Backend) tunnelObjectsCurrent(ctx context.Context, o *observed) (secret, deployment bool) {
	reader, ok := b.cluster.(ObjectReader)
	if !ok || o.tunnel == nil {
		return false, false
	}
	if cur, err := reader.Current(ctx, b.tunnelSecret("", "")); err == nil {
		if s, ok := cur.(*corev1.Secret); ok && s != nil {
			secret = s.Annotations[AnnotationTunnelID] == o.tunnel.ID && len(s.Data[TunnelTokenKey]) > 0
		}
	}
	want := b.cloudflared()
	if cur, err := reader.Current(ctx, want); err == nil {
		if d, ok := cur.(*appsv1.Deployment); ok && d != nil {
			deployment = d.Annotations[AnnotationSpecHash] == want.Annotations[AnnotationSpecHash]
		}
	}
	return secret, deployment
}

// tunnelRules is the tunnel's ingress: one rule per desktop, to its own
// Service, requiring an Access token of its application, then a 404.
func (b *Backend) tunnelRules(w *want, auds func(string) string) []ingressRule {
	var out []ingressRule
	for _, d := range w.desktops {
		r := ingressRule{Hostname: d.Host, Service: fmt.Sprintf("http://%s.%s.svc:%d",
			d.ServiceName(), b.cfg.Namespace, desktop.GatewayPort)}
		r.OriginRequest = &originRequest{Access: &originAccess{Required: true,
			TeamName: teamName(b.cfg), AUDTag: []string{auds(w.appOf[d.Name])}}}
		out = append(out, r)
	}
	return append(out, ingressRule{Service: "http_status:404"})
}

// tunnelConfigSteps update the tunnel's ingress in one request: after the
// applications exist when the run adds any, else before withdrawal.
func (b *Backend) tunnelConfigSteps(o *observed, w *want, rs *runState, creates bool) []plan.Step {
	if b.opts.Teardown || b.cfg.Expose.Mode != config.ExposeTunnel {
		return nil
	}
	known := func(app string) string {
		if apps := o.apps[app]; len(apps) > 0 {
			return apps[0].AUD
		}
		return ""
	}
	if !creates && o.tunnel != nil {
		a, _ := json.Marshal(b.tunnelRules(w, known))
		c, _ := json.Marshal(o.rules)
		if string(a) == string(c) {
			return nil
		}
	}
	stage := stageDNSWithdraw
	if creates || o.tunnel == nil || len(o.rules) < len(w.desktops)+1 {
		stage = stageGateway
	}
	c := change(KindTunnelConfig, b.cfg.TunnelName(), "", plan.Update,
		fmt.Sprintf("%d hosts", len(w.desktops)), nil)
	return []plan.Step{{Stage: stage, Changes: []plan.Change{c},
		Run: func(ctx context.Context) error {
			var ingress []zero_trust.TunnelCloudflaredConfigurationUpdateParamsConfigIngress
			for _, r := range b.tunnelRules(w, rs.aud) {
				in := zero_trust.TunnelCloudflaredConfigurationUpdateParamsConfigIngress{
					Service: cf.F(r.Service)}
				if r.Hostname != "" {
					in.Hostname = cf.F(r.Hostname)
				}
				if r.OriginRequest != nil {
					a := r.OriginRequest.Access
					in.OriginRequest = cf.F(ingressOrigin{
						Access: cf.F(ingressAccess{
							Required: cf.F(a.Required), TeamName: cf.F(a.TeamName), AUDTag: cf.F(a.AUDTag)})})
				}
				ingress = append(ingress, in)
			}
			_, err := b.client.ZeroTrust.Tunnels.Cloudflared.Configurations.Update(ctx, rs.tunnel(),
				zero_trust.TunnelCloudflaredConfigurationUpdateParams{
					AccountID: cf.F(b.account()),
					Config: cf.F(zero_trust.TunnelCloudflaredConfigurationUpdateParamsConfig{
						Ingress: cf.F(ingress)}),
				})
			if err == nil {
				b.logChange(c, "")
			}
			return err
		}}}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
