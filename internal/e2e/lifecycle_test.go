package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/kube"
)

// kubeList is the part of a kubectl -o json list the tests read.
type kubeList struct {
	Items []struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name        string            `json:"name"`
			UID         string            `json:"uid"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Rules []struct {
				Host string `json:"host"`
			} `json:"rules"`
		} `json:"spec"`
		Status struct {
			Phase string `json:"phase"`
		} `json:"status"`
	} `json:"items"`
}

func (e *env) kubeGet(kinds string, extra ...string) kubeList {
	e.t.Helper()
	args := append([]string{"-n", e.ns, "get", kinds, "-o", "json"}, extra...)
	var l kubeList
	if err := json.Unmarshal([]byte(e.kubectl(args...)), &l); err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (l kubeList) names() []string {
	var out []string
	for _, it := range l.Items {
		out = append(out, strings.ToLower(it.Kind)+"/"+it.Metadata.Name)
	}
	slices.Sort(out)
	return out
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t, "life")
	sel := "-l" + desktop.Selector("desk")

	e.must("up", "--replicas", "2")
	if got := len(e.kubeGet("pods", sel).Items); got > 2 {
		t.Fatalf("after up with 2 replicas there are %d pods", got)
	}

	// Scale to 5 and wait: five Ready desktops, each with its Service and
	// Ingress on its own host.
	e.must("scale", "5", "--wait")
	items := e.ls()
	if len(items) != 5 {
		t.Fatalf("ls shows %d desktops after scale 5, want 5", len(items))
	}
	for i, it := range items {
		n := i + 1
		if !it.Ready || it.Pod != fmt.Sprintf("desk-%d", n) || it.Host != fmt.Sprintf("pod%d.example.com", n) {
			t.Errorf("desktop %d: %+v", n, it)
		}
	}
	pods := e.kubeGet("pods", sel)
	for _, p := range pods.Items {
		if p.Status.Phase != "Running" {
			t.Errorf("pod %s is %s", p.Metadata.Name, p.Status.Phase)
		}
	}
	ings := e.kubeGet("ingresses", sel)
	var hosts []string
	for _, ing := range ings.Items {
		hosts = append(hosts, ing.Spec.Rules[0].Host)
	}
	slices.Sort(hosts)
	want := []string{"pod1.example.com", "pod2.example.com", "pod3.example.com",
		"pod4.example.com", "pod5.example.com"}
	if !slices.Equal(hosts, want) {
		t.Fatalf("ingress hosts %v, want %v", hosts, want)
	}
	if got := len(e.kubeGet("services", "-l"+desktop.LabelDesktop).Items); got != 5 {
		t.Fatalf("%d per-desktop services, want 5", got)
	}
	pvcs := e.kubeGet("pvc", sel)
	uids := map[string]string{}
	for _, p := range pvcs.Items {
		uids[p.Metadata.Name] = p.Metadata.UID
	}
	if len(uids) != 5 {
		t.Fatalf("%d home volumes after scale 5, want 5: %v", len(uids), pvcs.names())
	}

	// Scale to 2: pod3-pod5 lose their Service and Ingress, not their home.
	e.must("scale", "2")
	svcs := e.kubeGet("services,ingresses", "-l"+desktop.LabelDesktop).names()
	wantObjs := []string{"ingress/desk-1", "ingress/desk-2", "service/desk-1", "service/desk-2"}
	if !slices.Equal(svcs, wantObjs) {
		t.Fatalf("after scale 2: %v, want %v", svcs, wantObjs)
	}
	if got := len(e.kubeGet("pvc", sel).Items); got != 5 {
		t.Fatalf("scale 2 left %d home volumes, want all 5", got)
	}

	// down: nothing labelled is left but the home volumes.
	e.must("down", "--yes")
	left := e.kubeGet("statefulsets,services,ingresses,secrets,configmaps,serviceaccounts,"+
		"networkpolicies,deployments,leases", sel).names()
	if len(left) != 0 {
		t.Fatalf("down left %v", left)
	}
	if got := len(e.kubeGet("pvc", sel).Items); got != 5 {
		t.Fatalf("down left %d home volumes, want all 5", got)
	}

	// up again with 5 replicas finds the same volumes.
	e.must("up", "--replicas", "5", "--wait")
	for _, p := range e.kubeGet("pvc", sel).Items {
		if uids[p.Metadata.Name] != p.Metadata.UID {
			t.Errorf("home volume %s was recreated", p.Metadata.Name)
		}
	}
	if items := e.ls(); len(items) != 5 || !items[4].Ready {
		t.Fatalf("after up again: %+v", items)
	}
}

func TestRerunMakesNoWrites(t *testing.T) {
	e := newEnv(t, "rerun", "replicas: 3")
	e.must("up")

	before := e.writes()
	r := e.must("up")
	if after := e.writes(); after != before {
		writes, _ := e.cluster.Writes()
		t.Fatalf("unchanged up made %d writes: %v", after-before, writes[before:])
	}
	if !strings.Contains(r.stdout, "no changes") {
		t.Fatalf("unchanged up says %q", r.stdout)
	}

	// scale to the same count, and up without replicas (keeps the count).
	before = e.writes()
	e.must("scale", "3")
	if after := e.writes(); after != before {
		t.Fatalf("scale to the current count made %d writes", after-before)
	}
}

func TestShardingKeepsGroupsWithinLimit(t *testing.T) {
	e := newEnv(t, "shard", "expose:\n  alb:\n    maxDesktopsPerGroup: 50")
	e.must("up", "--replicas", "120")

	groups := map[string][]map[string]string{}
	for _, ing := range e.kubeGet("ingresses", "-l"+desktop.Selector("desk")).Items {
		g := ing.Metadata.Annotations[kube.AnnGroupName]
		groups[g] = append(groups[g], ing.Metadata.Annotations)
	}
	if len(groups) != 3 {
		t.Fatalf("120 desktops at 50 a group make %d groups, want 3", len(groups))
	}
	for g, members := range groups {
		if len(members) > 50 {
			t.Errorf("group %s holds %d desktops", g, len(members))
		}
		if len(g) > 63 || strings.ToLower(g) != g {
			t.Errorf("group name %q is not a valid ALB group", g)
		}
		for _, ann := range members[1:] {
			for _, k := range kube.ExclusiveAnnotations {
				if ann[k] != members[0][k] {
					t.Errorf("group %s: %s differs: %q vs %q", g, k, ann[k], members[0][k])
				}
			}
		}
	}
	e.must("down", "--yes")
}

func TestDryRunManifestsPassServerDryRun(t *testing.T) {
	e := newEnv(t, "gitops", "replicas: 3")
	before := e.writes()
	r := e.must("up", "--dry-run", "-o", "yaml")
	if after := e.writes(); after != before {
		t.Fatalf("up --dry-run made %d writes", after-before)
	}
	for _, kind := range []string{"kind: StatefulSet", "kind: Ingress", "kind: NetworkPolicy"} {
		if !strings.Contains(r.stdout, kind) {
			t.Errorf("dry-run manifests lack %q", kind)
		}
	}
	if strings.Contains(r.stdout, "kind: Secret") {
		t.Errorf("dry-run manifests print the Secret")
	}

	// A server-side dry run of namespaced objects needs their namespace;
	// a GitOps tool creates it first, and so does this test.
	e.kubectl("create", "namespace", e.ns)
	path := t.TempDir() + "/m.yaml"
	writeFile(t, path, r.stdout)
	out := e.kubectl("apply", "--dry-run=server", "-f", path)
	for _, obj := range []string{"statefulset.apps/desk", "ingress.networking.k8s.io/desk-3"} {
		if !strings.Contains(out, obj) {
			t.Errorf("kubectl apply --dry-run=server did not take %s:\n%s", obj, out)
		}
	}
}
