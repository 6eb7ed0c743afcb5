package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/deskctl/deskctl/internal/cloudflare/cftest"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/kube"
)

// newCloudflareEnv starts a fake Cloudflare API and a config that uses it.
func newCloudflareEnv(t *testing.T, ns string, extra ...string) (*env, *cftest.Server) {
	t.Helper()
	srv := cftest.New(t)
	t.Setenv("CLOUDFLARE_BASE_URL", srv.URL)
	t.Setenv("CLOUDFLARE_API_TOKEN", srv.Token)
	lines := append([]string{fmt.Sprintf(`cloudflare:
  enabled: true
  accountID: %s
  zone: %s
  teamDomain: myteam.cloudflareaccess.com
  allow: {emails: [admin@example.com]}`, srv.AccountID, srv.Zone)}, extra...)
	return newEnv(t, ns, lines...), srv
}

// albHostname is the address the fake load balancer controller gives a
// group.
func albHostname(group string) string {
	return "k8s-" + group + "-0123456789.eu-west-1.elb.amazonaws.com"
}

// runLoadBalancerController does what the AWS Load Balancer Controller
// does for the tests: it gives every Ingress of the namespace its group's
// ALB address in status, until the test ends.
func runLoadBalancerController(t *testing.T, e *env) {
	t.Helper()
	client, err := e.cluster.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			ings, err := client.NetworkingV1().Ingresses(e.ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				for i := range ings.Items {
					ing := &ings.Items[i]
					host := albHostname(ing.Annotations[kube.AnnGroupName])
					if len(ing.Status.LoadBalancer.Ingress) == 1 &&
						ing.Status.LoadBalancer.Ingress[0].Hostname == host {
						continue
					}
					ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{Hostname: host}}
					_, _ = client.NetworkingV1().Ingresses(e.ns).UpdateStatus(ctx, ing, metav1.UpdateOptions{})
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

// owned returns the records and applications that carry this set's
// ownership markers, and the foreign rest.
func owned(srv *cftest.Server) (records []cftest.DNSRecord, apps []cftest.App) {
	for _, r := range srv.Records() {
		if strings.Contains(r.Comment, "deskctl") {
			records = append(records, r)
		}
	}
	for _, a := range srv.Apps() {
		if strings.HasPrefix(a.Name, "deskctl") {
			apps = append(apps, a)
		}
	}
	return records, apps
}

func hostsOf(records []cftest.DNSRecord) []string {
	var out []string
	for _, r := range records {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

func hosts(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("pod%d.example.com", i))
	}
	slices.Sort(out)
	return out
}

// gatewayConfig reads the gateway ConfigMap deskctl wrote.
func (e *env) gatewayConfig() desktop.AccessConfig {
	e.t.Helper()
	raw := e.kubectl("-n", e.ns, "get", "configmap", desktop.AccessConfigMapName("desk"),
		"-o", "jsonpath={.data.access\\.json}")
	var ac desktop.AccessConfig
	if err := json.Unmarshal([]byte(raw), &ac); err != nil {
		e.t.Fatalf("gateway config %q: %v", raw, err)
	}
	return ac
}

// checkNoDanglingAUD fails when the gateway config names an application
// that does not exist.
func checkNoDanglingAUD(t *testing.T, e *env, srv *cftest.Server) {
	t.Helper()
	auds := map[string]bool{}
	for _, a := range srv.Apps() {
		auds[a.AUD] = true
	}
	ac := e.gatewayConfig()
	for name, d := range ac.Desktops {
		for _, aud := range d.AUD {
			if !auds[aud] {
				t.Errorf("the gateway config gives %s an AUD with no application", name)
			}
		}
	}
}

func TestCloudflareLifecycle(t *testing.T) {
	e, srv := newCloudflareEnv(t, "cf-life")
	foreignRecord := srv.PlantRecord("www.example.com", "CNAME", "elsewhere.example.net", "")
	foreignApp := srv.PlantApp("team wiki", "wiki.example.com")
	runLoadBalancerController(t, e)

	// up --wait waits for the ALB addresses, then publishes the records.
	e.must("up", "--replicas", "3", "--wait")
	records, apps := owned(srv)
	if got := hostsOf(records); !slices.Equal(got, hosts(3)) {
		t.Fatalf("records after up 3: %v", got)
	}
	for _, r := range records {
		if r.Type != "CNAME" || !r.Proxied || r.Content != albHostname("deskctl-cf-life-desk-1") {
			t.Errorf("record %+v is not a proxied CNAME to its ALB", r)
		}
	}
	if len(apps) != 3 {
		t.Fatalf("%d applications after up 3, want 3", len(apps))
	}
	ac := e.gatewayConfig()
	if ac.TeamDomain != "myteam.cloudflareaccess.com" {
		t.Errorf("gateway config team domain %q", ac.TeamDomain)
	}
	for _, a := range apps {
		if !strings.HasSuffix(a.Domain, ".example.com") || len(a.Policies) == 0 {
			t.Errorf("application %+v has no host or no policy", a)
		}
		name := strings.TrimSuffix(a.Domain, ".example.com")
		if !slices.Contains(ac.Desktops[name].AUD, a.AUD) {
			t.Errorf("the gateway config lacks %s's AUD", name)
		}
	}
	for name, d := range ac.Desktops {
		if want := "desk-" + strings.TrimPrefix(name, "pod"); d.Pod != want {
			t.Errorf("gateway config entry %s names pod %q, want %q", name, d.Pod, want)
		}
	}

	// The origin lock: every ALB admits only Cloudflare's ranges, the same
	// ones across the group.
	var cidrs []string
	for _, ing := range e.kubeGet("ingresses", "-l"+desktop.Selector("desk")).Items {
		cidrs = append(cidrs, ing.Metadata.Annotations[kube.AnnInboundCIDRs])
	}
	if len(cidrs) != 3 || cidrs[0] == "" || cidrs[0] != cidrs[1] || cidrs[1] != cidrs[2] {
		t.Errorf("inbound CIDRs of the ingresses: %q", cidrs)
	}

	items := e.ls()
	for _, it := range items {
		if it.Access != "ok" || it.Status != desktop.StatusReady || it.Address == "" {
			t.Errorf("ls: %+v", it)
		}
	}

	// scale 5: the new records go in one batch request.
	batches := srv.Count("POST", "dns_records/batch")
	singles := srv.Count("POST", "dns_records") - batches
	e.must("scale", "5", "--wait")
	if got := srv.Count("POST", "dns_records/batch") - batches; got != 1 {
		t.Errorf("scale 3 to 5 sent %d batch requests, want 1", got)
	}
	if got := srv.Count("POST", "dns_records") - srv.Count("POST", "dns_records/batch") - singles; got != 0 {
		t.Errorf("scale 3 to 5 created %d records one by one", got)
	}
	if records, apps := owned(srv); len(records) != 5 || len(apps) != 5 {
		t.Fatalf("after scale 5: %d records, %d applications", len(records), len(apps))
	}

	// scale 2: pod3-pod5 lose their record and application.
	e.must("scale", "2")
	records, apps = owned(srv)
	if got := hostsOf(records); !slices.Equal(got, hosts(2)) {
		t.Fatalf("records after scale 2: %v", got)
	}
	if len(apps) != 2 {
		t.Fatalf("%d applications after scale 2", len(apps))
	}
	checkNoDanglingAUD(t, e, srv)

	// down: nothing of deskctl's is left, and the foreign objects are.
	e.must("down", "--yes")
	records, apps = owned(srv)
	if len(records) != 0 || len(apps) != 0 {
		t.Fatalf("down left %d records and %d applications", len(records), len(apps))
	}
	var sawRecord, sawApp bool
	for _, r := range srv.Records() {
		sawRecord = sawRecord || r.ID == foreignRecord
	}
	for _, a := range srv.Apps() {
		sawApp = sawApp || a.ID == foreignApp
	}
	if !sawRecord || !sawApp {
		t.Fatalf("down touched a foreign object: record kept %v, application kept %v", sawRecord, sawApp)
	}
}

func TestCloudflareFailureConverges(t *testing.T) {
	e, srv := newCloudflareEnv(t, "cf-fault")
	runLoadBalancerController(t, e)
	e.must("up", "--replicas", "2", "--wait")

	srv.FailNth("POST", "access/apps", 3, 500)
	r := e.run("scale", "5")
	if r.code != 1 {
		t.Fatalf("scale with a failing application create: exit %d, want 1\n%s", r.code, r.stderr)
	}
	failed := srv.FailedBodies()
	if len(failed) != 1 {
		t.Fatalf("%d failed requests recorded", len(failed))
	}
	var body struct {
		Domain string `json:"domain"`
	}
	_ = json.Unmarshal([]byte(failed[0]), &body)
	desk := strings.TrimSuffix(body.Domain, ".example.com")
	if desk == "" || !strings.Contains(r.stderr, "desktop "+desk) {
		t.Errorf("the error does not name desktop %q:\n%s", desk, r.stderr)
	}
	checkNoDanglingAUD(t, e, srv)

	srv.ClearFaults()
	e.must("scale", "5", "--wait")
	records, apps := owned(srv)
	if got := hostsOf(records); !slices.Equal(got, hosts(5)) {
		t.Fatalf("records after the re-run: %v", got)
	}
	domains := map[string]int{}
	for _, a := range apps {
		domains[a.Domain]++
	}
	if len(apps) != 5 || len(domains) != 5 {
		t.Fatalf("after the re-run: %d applications for %d hosts", len(apps), len(domains))
	}
	checkNoDanglingAUD(t, e, srv)

	// Another re-run changes nothing anywhere.
	before, cfBefore := e.writes(), srv.Writes()
	e.must("up")
	if e.writes() != before || srv.Writes() != cfBefore {
		t.Errorf("a converged re-run wrote %d to the cluster and %d to Cloudflare",
			e.writes()-before, srv.Writes()-cfBefore)
	}
	e.must("down", "--yes")
}

func TestCloudflareApplicationLimit(t *testing.T) {
	e, srv := newCloudflareEnv(t, "cf-limit")
	for i := range 496 {
		srv.PlantApp(fmt.Sprintf("other %d", i), fmt.Sprintf("other%d.example.com", i))
	}
	before, cfBefore := e.writes(), srv.Writes()
	r := e.run("up", "--replicas", "5")
	if r.code != 2 {
		t.Fatalf("up past 500 applications: exit %d, want 2\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "500") || !strings.Contains(r.stderr, "wildcard") {
		t.Errorf("the refusal does not explain the limit: %s", r.stderr)
	}
	if e.writes() != before || srv.Writes() != cfBefore {
		t.Fatalf("the refused up wrote %d to the cluster and %d to Cloudflare",
			e.writes()-before, srv.Writes()-cfBefore)
	}
	e.must("up", "--replicas", "4")
	if _, apps := owned(srv); len(apps) != 4 {
		t.Fatalf("%d applications at the limit, want 4", len(apps))
	}
	e.must("down", "--yes")
}

func TestCloudflareAssignment(t *testing.T) {
	e, srv := newCloudflareEnv(t, "cf-assign")
	runLoadBalancerController(t, e)
	e.must("up", "--replicas", "2", "--wait")

	e.must("assign", "pod2", "alice@example.com")
	policies := map[string]cftest.Policy{}
	for _, p := range srv.Policies() {
		policies[p.ID] = p
	}
	var admits []string
	for _, a := range srv.Apps() {
		if a.Domain != "pod2.example.com" {
			continue
		}
		for _, link := range a.Policies {
			for _, inc := range policies[link.ID].Include {
				admits = append(admits, string(inc))
			}
		}
	}
	joined := strings.Join(admits, " ")
	if !strings.Contains(joined, "alice@example.com") {
		t.Fatalf("pod2's policies do not admit alice: %s", joined)
	}
	for _, inc := range admits {
		if !strings.Contains(inc, "alice@example.com") && !strings.Contains(inc, "admin@example.com") {
			t.Errorf("pod2 admits more than alice: %s", inc)
		}
	}
	if got := e.gatewayConfig().Desktops["pod2"].Users; !slices.Equal(got, []string{"alice@example.com"}) {
		t.Fatalf("gateway config users of pod2: %v", got)
	}

	e.must("unassign", "pod2")
	if got := e.gatewayConfig().Desktops["pod2"].Users; len(got) != 0 {
		t.Fatalf("gateway config users of pod2 after unassign: %v", got)
	}
	for _, p := range srv.Policies() {
		for _, inc := range p.Include {
			if strings.Contains(string(inc), "alice") {
				t.Errorf("a policy still admits alice after unassign: %s", p.Name)
			}
		}
	}
	e.must("down", "--yes")
}

func TestCloudflareTunnelMode(t *testing.T) {
	e, srv := newCloudflareEnv(t, "cf-tunnel", "expose: {mode: tunnel}")
	e.must("up", "--replicas", "3")

	tunnels := srv.Tunnels()
	if len(tunnels) != 1 {
		t.Fatalf("%d tunnels", len(tunnels))
	}
	dep := e.kubeGet("deployments,secrets", "-l"+desktop.Selector("desk")).names()
	if !slices.Contains(dep, "deployment/desk-cloudflared") && !slices.ContainsFunc(dep,
		func(s string) bool { return strings.HasPrefix(s, "deployment/") }) {
		t.Fatalf("no cloudflared Deployment: %v", dep)
	}
	checkRules := func(n int) {
		t.Helper()
		cfg := srv.Tunnels()[0].Config
		if len(cfg.Ingress) != n+1 {
			t.Fatalf("tunnel config %+v, want %d rules", cfg, n+1)
		}
		last := cfg.Ingress[n]
		if last.Hostname != "" || last.Service != "http_status:404" {
			t.Errorf("last rule %+v is not the 404 rule", last)
		}
		for _, r := range cfg.Ingress[:n] {
			if r.OriginRequest == nil || r.OriginRequest.Access == nil || !r.OriginRequest.Access.Required {
				t.Errorf("rule %s does not require Access", r.Hostname)
			}
		}
	}
	checkRules(3)
	for _, r := range srv.Records() {
		if strings.Contains(r.Comment, "deskctl") && !strings.HasSuffix(r.Content, ".cfargotunnel.com") {
			t.Errorf("record %s points at %s", r.Name, r.Content)
		}
	}

	// An unchanged re-run writes nothing, to the cluster or to Cloudflare.
	before, cfBefore := e.writes(), srv.Writes()
	e.must("up")
	if e.writes() != before || srv.Writes() != cfBefore {
		t.Errorf("an unchanged re-run in tunnel mode wrote %d to the cluster and %d to Cloudflare",
			e.writes()-before, srv.Writes()-cfBefore)
	}

	puts := srv.Count("PUT", "configurations")
	e.must("scale", "5")
	if got := srv.Count("PUT", "configurations") - puts; got != 1 {
		t.Errorf("scale sent %d tunnel configuration updates, want 1", got)
	}
	checkRules(5)
	e.must("down", "--yes")
}
