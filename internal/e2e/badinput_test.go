package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestBadInputChangesNothing runs deskctl with bad input of every kind:
// each run exits 2, names the problem, and the API server sees no write.
func TestBadInputChangesNothing(t *testing.T) {
	good := newEnv(t, "bad")
	good.must("up", "--replicas", "2")

	cases := []struct {
		name   string
		config []string // extra config lines; nil uses the good config
		args   []string
		want   string // a piece of the error message
	}{
		{"negative count", nil, []string{"scale", "-1"}, "negative"},
		{"count not a number", nil, []string{"scale", "abc"}, `"abc" is not a whole number`},
		{"fractional count", nil, []string{"scale", "1.5"}, `"1.5" is not a whole number`},
		{"no count", nil, []string{"scale"}, "scale needs one count"},
		{"two counts", nil, []string{"scale", "1", "2"}, "scale needs one count"},
		{"count over maxReplicas", nil, []string{"scale", "100000"}, "maxReplicas is 500"},
		{"unknown desktop", nil, []string{"open", "pod99", "--print-url"}, "pod99 does not exist"},
		{"unparsable desktop", nil, []string{"open", "nonsense", "--print-url"}, `unknown desktop "nonsense"`},
		{"invalid domain", []string{"domain: not_a_domain"}, []string{"up"}, `domain "not_a_domain"`},
		{"pattern without ordinal", []string{`hostPattern: "pod"`}, []string{"up"}, "same name"},
		{"pattern not DNS", []string{`hostPattern: "Pod_{{.Ordinal}}"`}, []string{"up"}, "not a DNS label"},
		{"pattern not a template", []string{`hostPattern: "pod{{.Ordinal"`}, []string{"up"}, "not a valid template"},
		{"pattern unknown field", []string{`hostPattern: "pod{{.Nope}}"`}, []string{"up"}, "hostPattern"},
		{"group size 0", []string{"expose: {alb: {maxDesktopsPerGroup: 0}}"}, []string{"up"}, "maxDesktopsPerGroup"},
		{"group size 101", []string{"expose: {alb: {maxDesktopsPerGroup: 101}}"}, []string{"up"}, "maxDesktopsPerGroup"},
		{"unknown config key", []string{"replicaz: 3"}, []string{"up"}, "replicaz: unknown key"},
		{"unknown nested key", []string{"expose: {albb: {}}"}, []string{"up"}, "unknown key"},
		{"malformed config", []string{"domain: [unclosed"}, []string{"up"}, "not valid YAML"},
		{"unknown expose mode", []string{"expose: {mode: nodeport}"}, []string{"up"}, "expose.mode"},
		{"negative replicas", []string{"replicas: -3"}, []string{"up"}, "replicas"},
		{"bad home size", []string{"home: {size: ten}"}, []string{"up"}, "home.size"},
		{"bad cpu request", []string{"resources: {requests: {cpu: lots}}"}, []string{"up"}, "resources.requests.cpu"},
		{"idle timeout too long", []string{"expose: {alb: {idleTimeoutSeconds: 5000}}"}, []string{"up"}, "idleTimeoutSeconds"},
		{"cloudflare half configured", []string{"cloudflare: {enabled: true}"}, []string{"up"}, "cloudflare.accountID"},
		{"invalid set name", []string{"name: Desk_1"}, []string{"up"}, `name "Desk_1"`},
		{"unknown output", nil, []string{"up", "-o", "xml"}, `unknown output format "xml"`},
		{"unknown flag", nil, []string{"up", "--replica", "3"}, "unknown flag: --replica"},
		{"bad timeout", nil, []string{"scale", "3", "--timeout", "-1s"}, "--timeout must be positive"},
		{"down without --yes", nil, []string{"down"}, "pass --yes"},
		{"assign a non-email", nil, []string{"assign", "pod1", "alice"}, `"alice" is not an email`},
		{"assign an unknown desktop", nil, []string{"assign", "pod9", "a@example.com"}, "pod9 does not exist"},
		{"ls bad output", nil, []string{"ls", "-o", "xml"}, "unknown output format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			if tc.config != nil {
				e = newEnv(t, "bad", tc.config...)
			}
			before := e.writes()
			r := e.run(tc.args...)
			if r.code != 2 {
				t.Fatalf("deskctl %s: exit %d, want 2\nstderr: %s", strings.Join(tc.args, " "), r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("error does not name the problem: want %q in\n%s", tc.want, r.stderr)
			}
			if after := e.writes(); after != before {
				writes, _ := e.cluster.Writes()
				t.Fatalf("bad input made %d writes: %v", after-before, writes[before:])
			}
		})
	}
	if len(cases) < 20 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
}

// TestUnreachableClusterIsARuntimeFailure: exit 1, with a hint.
func TestUnreachableClusterIsARuntimeFailure(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := dir + "/kubeconfig"
	writeFile(t, kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:%d"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: gone, user: u}}]
current-context: c
`, 1))
	writeFile(t, dir+"/c.yaml", "domain: example.com\n")
	r := runArgs(t, "--kubeconfig", kubeconfig, "--config", dir+"/c.yaml", "--request-timeout", "5s", "ls")
	if r.code != 1 {
		t.Fatalf("unreachable cluster: exit %d, want 1\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "cluster reachable") {
		t.Errorf("no hint in %q", r.stderr)
	}
}
