package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/deskctl/deskctl/internal/cloudflare/cftest"
	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/plan"
)

const batchPath = "/dns_records/batch"

func TestLifecycle(t *testing.T) {
	h := newHarness(t)
	foreignRecord := h.srv.PlantRecord("www."+h.srv.Zone, "CNAME", "origin.example.net", "not ours")
	foreignApp := h.srv.PlantApp("someone else's app", "pod7."+h.srv.Zone)

	// up with 3 desktops.
	h.mustRun(3)
	recs, apps := h.owned()
	if len(recs) != 3 || len(apps) != 3 {
		t.Fatalf("after up 3: %d records and %d applications, want 3 and 3", len(recs), len(apps))
	}
	ds := h.desktops(3)
	byName := map[string]cftest.DNSRecord{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	for _, d := range ds {
		r, ok := byName[d.Host]
		if !ok {
			t.Fatalf("no record for %s", d.Host)
		}
		want := h.cluster.state.LoadBalancers[d.Group]
		if r.Type != "CNAME" || !r.Proxied || r.Content != want {
			t.Errorf("record %s = %s %s proxied=%v, want a proxied CNAME to %s",
				d.Host, r.Type, r.Content, r.Proxied, want)
		}
	}
	policies := h.srv.Policies()
	if len(policies) != 1 {
		t.Fatalf("%d policies, want the one set-wide policy", len(policies))
	}
	ac := h.cluster.access()
	if ac == nil || ac.TeamDomain != "myteam.cloudflareaccess.com" {
		t.Fatalf("gateway ConfigMap = %+v", ac)
	}
	for _, a := range apps {
		if len(a.Policies) != 1 || a.Policies[0].ID != policies[0].ID || a.SessionDuration != "24h0m0s" {
			t.Errorf("application %s links %+v, session %s: want the set-wide policy, 24h",
				a.Name, a.Policies, a.SessionDuration)
		}
		name := strings.TrimSuffix(a.Domain, "."+h.srv.Zone)
		if aud, _ := ac.For(name); !slices.Equal(aud, []string{a.AUD}) {
			t.Errorf("ConfigMap audiences of %s = %v, want [%s]", name, aud, a.AUD)
		}
	}

	// A second run changes nothing.
	h.srv.ResetLog()
	writes := h.cluster.writes
	h.mustRun(3)
	if n := h.srv.Writes(); n != 0 {
		t.Errorf("unchanged re-run made %d Cloudflare writes: %v", n, h.srv.Counts())
	}
	if h.cluster.writes != writes {
		t.Errorf("unchanged re-run wrote %d cluster objects", h.cluster.writes-writes)
	}

	// scale 5: the DNS writes go in one batch request.
	h.srv.ResetLog()
	h.mustRun(5)
	if n := h.srv.Count(http.MethodPost, batchPath); n != 1 {
		t.Errorf("scale 5 made %d DNS batch requests, want 1", n)
	}
	if n := h.srv.Count(http.MethodPost, "/dns_records") - h.srv.Count(http.MethodPost, batchPath); n != 0 {
		t.Errorf("scale 5 created %d records one by one", n)
	}
	if recs, apps = h.owned(); len(recs) != 5 || len(apps) != 5 {
		t.Fatalf("after scale 5: %d records and %d applications", len(recs), len(apps))
	}

	// scale 2: pod3 to pod5 are gone, from Cloudflare and the ConfigMap.
	h.srv.ResetLog()
	h.cluster.configWrites = nil
	h.mustRun(2)
	checkWithdrawalOrder(t, h)
	recs, apps = h.owned()
	if len(recs) != 2 || len(apps) != 2 {
		t.Fatalf("after scale 2: %d records and %d applications", len(recs), len(apps))
	}
	for _, r := range recs {
		if r.Name != "pod1."+h.srv.Zone && r.Name != "pod2."+h.srv.Zone {
			t.Errorf("record %s survived scale 2", r.Name)
		}
	}
	if ac := h.cluster.access(); len(ac.Desktops) != 2 {
		t.Errorf("ConfigMap after scale 2 lists %d desktops", len(ac.Desktops))
	}

	// down: nothing of deskctl's remains, and nothing foreign was touched.
	h.mustRun(-1)
	recs, apps = h.owned()
	if len(recs) != 0 || len(apps) != 0 || len(h.srv.Policies()) != 0 {
		t.Errorf("after down: %d records, %d applications, %d policies remain",
			len(recs), len(apps), len(h.srv.Policies()))
	}
	if got := h.srv.Records(); len(got) != 1 || got[0].ID != foreignRecord {
		t.Errorf("foreign record touched: %+v", got)
	}
	if got := h.srv.Apps(); len(got) != 1 || got[0].ID != foreignApp {
		t.Errorf("foreign application touched: %+v", got)
	}
	if h.cluster.access() != nil {
		t.Errorf("gateway ConfigMap survived down")
	}
}

// checkWithdrawalOrder checks that a scale down first drops the desktops
// from the gateway ConfigMap and deletes their DNS records, and only then
// deletes their applications.
func checkWithdrawalOrder(t *testing.T, h *harness) {
	t.Helper()
	firstAppDelete, lastBatch := -1, -1
	for i, r := range h.srv.Requests() {
		if r.Method == http.MethodDelete && strings.Contains(r.Path, "/access/apps/") && firstAppDelete < 0 {
			firstAppDelete = i
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, batchPath) {
			lastBatch = i
		}
	}
	if firstAppDelete < 0 || lastBatch < 0 {
		t.Fatalf("scale down deleted no application or no record: %v", h.srv.Counts())
	}
	if lastBatch > firstAppDelete {
		t.Errorf("an application was deleted (request %d) before the DNS records (request %d)",
			firstAppDelete, lastBatch)
	}
	if len(h.cluster.configWrites) != 1 || h.cluster.configWrites[0].requestsBefore > firstAppDelete {
		t.Errorf("ConfigMap writes %+v: want one, before the first application delete (request %d)",
			h.cluster.configWrites, firstAppDelete)
	}
}

func TestDownSweepsOrphans(t *testing.T) {
	h := newHarness(t)
	h.mustRun(4)

	// The cluster forgets every desktop: down still finds them by marker.
	h.cluster.mu.Lock()
	h.cluster.objects = map[string]runtime.Object{}
	h.cluster.mu.Unlock()
	h.mustRun(-1)
	if recs, apps := h.owned(); len(recs)+len(apps) != 0 {
		t.Errorf("down left %d records and %d applications", len(recs), len(apps))
	}
}

func TestFailedCreateNamesDesktopAndRerunConverges(t *testing.T) {
	h := newHarness(t)
	h.retries = 1
	h.srv.FailNth(http.MethodPost, "/access/apps", 3, http.StatusInternalServerError)

	err := h.run(5)
	var se *plan.StepError
	if !errors.As(err, &se) {
		t.Fatalf("run = %v, want a step error", err)
	}
	failed := h.srv.FailedBodies()
	if len(failed) != 1 {
		t.Fatalf("%d requests failed by injection, want 1", len(failed))
	}
	var body struct{ Domain string }
	if err := json.Unmarshal([]byte(failed[0]), &body); err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSuffix(body.Domain, "."+h.srv.Zone)
	if se.Desktop != want || !strings.Contains(err.Error(), "desktop "+want) {
		t.Errorf("error %q names desktop %q, want %q", err, se.Desktop, want)
	}
	if recs, _ := h.owned(); len(recs) != 0 {
		t.Errorf("%d records published although an application failed", len(recs))
	}

	h.srv.ClearFaults()
	h.mustRun(5)
	recs, apps := h.owned()
	if len(recs) != 5 || len(apps) != 5 {
		t.Fatalf("re-run: %d records, %d applications, want 5 and 5", len(recs), len(apps))
	}
	seen := map[string]bool{}
	for _, a := range apps {
		if seen[a.Domain] {
			t.Errorf("duplicate application for %s", a.Domain)
		}
		seen[a.Domain] = true
	}
	if ac := h.cluster.access(); len(ac.Desktops) != 5 {
		t.Errorf("ConfigMap lists %d desktops after the re-run", len(ac.Desktops))
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	h := newHarness(t, cftest.WithRateLimit(4, time.Second))
	h.retries = 2
	var logs bytes.Buffer
	h.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	start := time.Now()
	h.mustRun(2)
	if d := time.Since(start); d < time.Second {
		t.Errorf("run took %s: the 1 s Retry-After was not honoured", d)
	}
	var limited, retried bool
	for _, r := range h.srv.Requests() {
		limited = limited || r.Status == http.StatusTooManyRequests
		retried = retried || limited && r.Retry > 0 && r.Status < 300
	}
	if !limited || !retried {
		t.Errorf("rate limited %v, retried %v: want both", limited, retried)
	}
	if !strings.Contains(logs.String(), "status=429") || !strings.Contains(logs.String(), "retry_after=1") {
		t.Errorf("the retry is not visible at debug level:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), h.srv.Token) {
		t.Errorf("the API token appears in the log")
	}
}

func TestApplicationLimitRefusedBeforeAnyWrite(t *testing.T) {
	h := newHarness(t)
	for i := range 498 {
		h.srv.PlantApp("other", "other"+itoa(i)+"."+h.srv.Zone)
	}
	h.srv.ResetLog()

	err := h.run(3)
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("run = %v, want a LimitError", err)
	}
	if le.ExitCode() != 2 {
		t.Errorf("exit code %d, want 2", le.ExitCode())
	}
	for _, s := range []string{"498 exist", "needs 3 more", "at most 500", "wildcard"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
	if n := h.srv.Writes(); n != 0 {
		t.Errorf("%d writes before the refusal", n)
	}

	// Two more fit.
	h.mustRun(2)
}

func TestWildcardServesThousandDesktopsWithOneApplication(t *testing.T) {
	h := newHarness(t)
	h.cfg.Cloudflare.Access.Mode = config.AccessWildcard
	h.cfg.Expose.ALB.MaxDesktopsPerGroup = 100
	h.mustRun(1000)

	recs, apps := h.owned()
	if len(apps) != 1 || apps[0].Domain != "*."+h.srv.Zone {
		t.Fatalf("applications: %+v, want one for *.%s", apps, h.srv.Zone)
	}
	if len(recs) != 1000 {
		t.Errorf("%d records, want 1000", len(recs))
	}
	if n := h.srv.Count(http.MethodPost, batchPath); n != 5 {
		t.Errorf("%d batch requests, want 5 of at most 200", n)
	}
	ac := h.cluster.access()
	if aud, _ := ac.For("pod999"); !slices.Equal(aud, []string{apps[0].AUD}) {
		t.Errorf("pod999 audiences %v, want the wildcard application's", aud)
	}
}

func TestAssignment(t *testing.T) {
	h := newHarness(t)
	h.mustRun(3)

	h.cluster.mu.Lock()
	h.cluster.state.Users["pod2"] = []string{"alice@example.com"}
	h.cluster.mu.Unlock()
	h.mustRun(3)

	var userPolicy, allow cftest.Policy
	for _, p := range h.srv.Policies() {
		if strings.HasSuffix(p.Name, " users pod2") {
			userPolicy = p
		} else if strings.HasSuffix(p.Name, " allow") {
			allow = p
		}
	}
	if userPolicy.ID == "" || len(userPolicy.Include) != 1 ||
		!strings.Contains(string(userPolicy.Include[0]), `"alice@example.com"`) {
		t.Fatalf("pod2's policy = %+v, want one admitting alice", userPolicy)
	}
	_, apps := h.owned()
	for _, a := range apps {
		want := []cftest.AppLink{{ID: allow.ID, Precedence: 1}}
		if a.Domain == "pod2."+h.srv.Zone {
			// Only alice: the set-wide policy would let in people the
			// gateway then refuses.
			want = []cftest.AppLink{{ID: userPolicy.ID, Precedence: 1}}
		}
		if !slices.Equal(a.Policies, want) {
			t.Errorf("%s links %+v, want %+v", a.Domain, a.Policies, want)
		}
	}
	if _, users := h.cluster.access().For("pod2"); !slices.Equal(users, []string{"alice@example.com"}) {
		t.Errorf("gateway users of pod2 = %v", users)
	}

	// unassign reverses both.
	h.cluster.mu.Lock()
	delete(h.cluster.state.Users, "pod2")
	h.cluster.mu.Unlock()
	h.mustRun(3)
	if n := len(h.srv.Policies()); n != 1 {
		t.Errorf("%d policies after unassign, want the set-wide one", n)
	}
	if _, users := h.cluster.access().For("pod2"); len(users) != 0 {
		t.Errorf("gateway users of pod2 after unassign = %v", users)
	}
	_, apps = h.owned()
	for _, a := range apps {
		if len(a.Policies) != 1 {
			t.Errorf("%s still links %+v", a.Domain, a.Policies)
		}
	}
}

func TestTunnelMode(t *testing.T) {
	h := newHarness(t)
	h.cfg.Expose.Mode = config.ExposeTunnel
	h.mustRun(3)

	tunnels := h.srv.Tunnels()
	if len(tunnels) != 1 || tunnels[0].Name != "deskctl-desktops-desk" {
		t.Fatalf("tunnels = %+v", tunnels)
	}
	tun := tunnels[0]
	if s := h.cluster.secret(); s == nil || string(s.Data[TunnelTokenKey]) != h.srv.TunnelToken(tun.ID) {
		t.Errorf("tunnel Secret = %+v", s)
	}
	dep := h.cluster.deployment()
	if dep == nil || *dep.Spec.Replicas != 2 || !*dep.Spec.Template.Spec.SecurityContext.RunAsNonRoot ||
		dep.Spec.Template.Spec.Containers[0].Env[0].ValueFrom.SecretKeyRef.Name != "desk-tunnel" ||
		dep.Labels[desktop.LabelSet] != "desk" {
		t.Errorf("cloudflared Deployment = %+v", dep)
	}
	checkTunnel(t, h, 3)
	if n := h.srv.Count(http.MethodPut, "/configurations"); n != 1 {
		t.Errorf("%d configuration updates, want 1", n)
	}
	recs, _ := h.owned()
	for _, r := range recs {
		if r.Content != tun.ID+".cfargotunnel.com" {
			t.Errorf("record %s points to %s", r.Name, r.Content)
		}
	}

	// A second run changes nothing, in Cloudflare or in the cluster.
	h.srv.ResetLog()
	writes := h.cluster.writes
	h.mustRun(3)
	if n := h.srv.Writes(); n != 0 || h.cluster.writes != writes {
		t.Errorf("unchanged re-run: %d Cloudflare writes, %d cluster writes: %v",
			n, h.cluster.writes-writes, h.srv.Counts())
	}

	h.srv.ResetLog()
	h.mustRun(5)
	checkTunnel(t, h, 5)
	if n := h.srv.Count(http.MethodPut, "/configurations"); n != 1 {
		t.Errorf("scale 5 made %d configuration updates, want 1", n)
	}

	h.srv.ResetLog()
	h.mustRun(2)
	checkTunnel(t, h, 2)

	h.srv.SetConnections(tun.ID, 2)
	h.mustRun(-1)
	if h.cluster.deployment() != nil || h.cluster.secret() != nil {
		t.Errorf("down left the cloudflared Deployment or Secret")
	}
	if got := h.srv.Tunnels(); got[0].DeletedAt == nil {
		t.Errorf("down left the tunnel deskctl created")
	}
}

func TestTunnelAdoptedAndKept(t *testing.T) {
	h := newHarness(t)
	h.cfg.Expose.Mode = config.ExposeTunnel
	h.cfg.Cloudflare.Tunnel.Name = "shared"
	id := h.srv.PlantTunnel("shared")
	h.mustRun(2)
	if got := h.srv.Tunnels(); len(got) != 1 || got[0].ID != id || len(got[0].Config.Ingress) != 3 {
		t.Fatalf("tunnels %+v: want the planted one, adopted and configured", got)
	}
	h.mustRun(-1)
	if got := h.srv.Tunnels(); got[0].DeletedAt != nil {
		t.Errorf("down deleted a tunnel named in the configuration")
	}
}

// checkTunnel checks the tunnel's rules: one per desktop, to its Service,
// requiring its application's AUD, then the 404.
func checkTunnel(t *testing.T, h *harness, n int) {
	t.Helper()
	tun := h.srv.Tunnels()[0]
	rules := tun.Config.Ingress
	if len(rules) != n+1 || rules[n].Service != "http_status:404" || rules[n].Hostname != "" {
		t.Fatalf("%d rules %+v, want %d and the 404", len(rules), rules, n+1)
	}
	auds := map[string]string{}
	for _, a := range h.srv.Apps() {
		auds[a.Domain] = a.AUD
	}
	for i, d := range h.desktops(n) {
		r := rules[i]
		want := "http://desk-" + itoa(d.Ordinal) + ".desktops.svc:8080"
		if r.Hostname != d.Host || r.Service != want || r.OriginRequest == nil ||
			r.OriginRequest.Access == nil || !r.OriginRequest.Access.Required ||
			r.OriginRequest.Access.TeamName != "myteam" ||
			!slices.Equal(r.OriginRequest.Access.AUDTag, []string{auds[d.Host]}) {
			t.Errorf("rule %d = %+v, want %s -> %s with the application's AUD", i, r, d.Host, want)
		}
	}
}

func TestStatus(t *testing.T) {
	h := newHarness(t)
	h.mustRun(3)
	ds := h.desktops(4)
	h.cluster.mu.Lock()
	h.cluster.state.LoadBalancers[ds[0].Group] = "k8s-moved.elb.amazonaws.com"
	h.cluster.mu.Unlock()

	got, err := h.backend(Options{}).Status(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	// pod1 to pod3 share the group whose load balancer moved.
	want := map[string]string{"pod1": StatusDrift, "pod2": StatusDrift, "pod3": StatusDrift,
		"pod4": StatusMissing}
	for name, s := range want {
		if got[name] != s {
			t.Errorf("status of %s = %q, want %q", name, got[name], s)
		}
	}

	h.mustRun(3)
	got, err = h.backend(Options{}).Status(context.Background(), ds[:3])
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range got {
		if s != StatusOK {
			t.Errorf("after re-run, status of %s = %q", name, s)
		}
	}
}

func TestWaitingForLoadBalancer(t *testing.T) {
	h := newHarness(t)
	ds := h.desktops(2)
	h.cluster.mu.Lock()
	delete(h.cluster.state.LoadBalancers, ds[0].Group)
	h.cluster.mu.Unlock()
	b := h.backend(Options{Desktops: ds})
	p, err := plan.Build(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(context.Background(), plan.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if recs, apps := h.owned(); len(recs) != 0 || len(apps) != 2 {
		t.Errorf("%d records and %d applications, want 0 and 2", len(recs), len(apps))
	}
	got, err := b.Status(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	if got["pod1"] != StatusWaiting {
		t.Errorf("status of pod1 = %q, want waiting", got["pod1"])
	}
}

func TestForeignRecordAtHostRefused(t *testing.T) {
	h := newHarness(t)
	h.srv.PlantRecord("pod2."+h.srv.Zone, "A", "192.0.2.1", "")
	h.srv.ResetLog()
	err := h.run(3)
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "pod2") {
		t.Fatalf("run = %v, want a refusal naming pod2", err)
	}
	if n := h.srv.Writes(); n != 0 {
		t.Errorf("%d writes before the refusal", n)
	}
}

func TestNewNeedsToken(t *testing.T) {
	h := newHarness(t)
	h.cfg.Cloudflare.APIToken = ""
	_, err := New(h.cfg, h.cluster, Options{})
	var ue *UsageError
	if !errors.As(err, &ue) || ue.ExitCode() != 2 {
		t.Fatalf("New without token = %v, want a usage error", err)
	}
}

func TestIPRanges(t *testing.T) {
	srv := cftest.New(t)
	got, err := IPRanges(context.Background(), Options{BaseURL: srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 || !strings.Contains(strings.Join(got, " "), "2606:4700::/32") {
		t.Errorf("ranges = %v, want IPv4 and IPv6", got)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestDuplicatesRemoved(t *testing.T) {
	h := newHarness(t)
	h.mustRun(2)
	o := owner{cluster: h.cluster.state.ClusterID, namespace: h.cfg.Namespace, set: h.cfg.Name}

	// A second application of pod1's name, as two racing runs could leave.
	h.srv.PlantApp(o.prefix()+"pod1", "pod1."+h.srv.Zone)
	h.mustRun(2)
	_, apps := h.owned()
	if len(apps) != 2 || apps[0].Domain == apps[1].Domain {
		t.Errorf("applications %+v: want one per desktop", apps)
	}
	got, err := h.backend(Options{}).Status(context.Background(), h.desktops(2))
	if err != nil {
		t.Fatal(err)
	}
	if got["pod1"] != StatusOK {
		t.Errorf("status of pod1 = %q after the duplicate went", got["pod1"])
	}
}

func TestPlanWritesNothing(t *testing.T) {
	h := newHarness(t)
	p, err := plan.Build(context.Background(), h.backend(Options{Desktops: h.desktops(3)}))
	if err != nil {
		t.Fatal(err)
	}
	if n := h.srv.Writes(); n != 0 || h.cluster.writes != 0 {
		t.Errorf("planning wrote %d Cloudflare and %d cluster objects", n, h.cluster.writes)
	}
	count := map[string]int{}
	for _, c := range p.Changes() {
		count[string(c.Action)+" "+c.Kind]++
	}
	want := map[string]int{"create AccessPolicy": 1, "create AccessApplication": 3,
		"create DNSRecord": 3, "create ConfigMap": 1}
	if !maps.Equal(count, want) {
		t.Errorf("plan changes %v, want %v", count, want)
	}
	// The Cloudflare steps run after the cluster's workload.
	for _, s := range p.Steps {
		if s.Changes[0].Kind != KindConfigMap && s.Stage <= plan.StageWorkload {
			t.Errorf("step %s runs at stage %d, before the workload", s.Changes[0], s.Stage)
		}
	}
}

func TestFailedBatchLeavesNothingHalfDone(t *testing.T) {
	h := newHarness(t)
	h.retries = 1
	h.srv.FailNth(http.MethodPost, batchPath, 1, http.StatusBadGateway)
	if err := h.run(3); err == nil {
		t.Fatal("run succeeded although the DNS batch failed")
	}
	if recs, _ := h.owned(); len(recs) != 0 {
		t.Errorf("%d records after a failed batch", len(recs))
	}
	if h.cluster.access() != nil {
		t.Errorf("the gateway ConfigMap was written although publication failed")
	}
	h.srv.ClearFaults()
	h.mustRun(3)
	if recs, apps := h.owned(); len(recs) != 3 || len(apps) != 3 {
		t.Errorf("re-run: %d records and %d applications", len(recs), len(apps))
	}
}
