package e2e

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/deskctl/deskctl/internal/gateway"
)

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatal(err)
	}
}

func mustBase64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadCommands covers ls's other formats and open's desktop names.
func TestReadCommands(t *testing.T) {
	e := newEnv(t, "read", "replicas: 3", "expose: {mode: none}")
	e.must("up", "--wait")

	if out := e.must("ls", "-o", "name").stdout; out != "pod1\npod2\npod3\n" {
		t.Errorf("ls -o name = %q", out)
	}
	table := e.must("ls", "--no-headers").stdout
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || strings.Contains(table, "NAME") || !strings.HasPrefix(lines[2], "pod3") {
		t.Errorf("ls --no-headers:\n%s", table)
	}
	wide := e.must("ls", "-o", "wide").stdout
	for _, col := range []string{"NAME", "URL", "STATUS", "READY", "USER", "NODE", "AGE", "POD", "IP",
		"GROUP", "ADDRESS", "desk-2", "Ready"} {
		if !strings.Contains(wide, col) {
			t.Errorf("ls -o wide lacks %q:\n%s", col, wide)
		}
	}
	if out := e.must("ls", "-o", "jsonpath={.items[1].host}").stdout; out != "pod2.example.com" {
		t.Errorf("ls -o jsonpath = %q", out)
	}

	for _, ref := range []string{"pod3", "3", "desk-3", "pod3.example.com"} {
		out := e.must("open", ref, "--print-url").stdout
		if out != "https://pod3.example.com/\n" {
			t.Errorf("open %s --print-url = %q", ref, out)
		}
	}

	// The pods mount only digests of the local-access secrets; the secrets
	// themselves are in a Secret no pod mounts.
	var mounted, local struct {
		Data map[string]string `json:"data"`
	}
	decode(t, e.kubectl("-n", e.ns, "get", "secret", "desk-desktops", "-o", "json"), &mounted)
	decode(t, e.kubectl("-n", e.ns, "get", "secret", "desk-local-access", "-o", "json"), &local)
	if len(local.Data) != 3 || len(mounted.Data) != 6 {
		t.Fatalf("secrets hold %d local and %d mounted keys", len(local.Data), len(mounted.Data))
	}
	for pod, raw := range local.Data {
		secret := mustBase64(t, raw)
		digest := mustBase64(t, mounted.Data[pod+".local"])
		if digest != gateway.LocalSecretDigest(secret) {
			t.Errorf("%s: the mounted digest does not match its local-access secret", pod)
		}
	}
	sts := e.kubectl("-n", e.ns, "get", "statefulset", "desk", "-o", "json")
	if strings.Contains(sts, "desk-local-access") {
		t.Errorf("the desktop pods mount the local-access Secret")
	}

	// Without a display, open prints the URL instead of failing.
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	if out := e.must("open", "pod1").stdout; out != "https://pod1.example.com/\n" {
		t.Errorf("open without a display = %q", out)
	}

	// Assignment shows in ls and is kept by a re-run of up.
	e.must("assign", "pod2", "alice@example.com", "bob@example.com")
	e.must("up")
	items := e.ls()
	if got := strings.Join(items[1].Users, ","); got != "alice@example.com,bob@example.com" {
		t.Fatalf("pod2 users after assign and up: %q", got)
	}
	e.must("unassign", "pod2", "alice@example.com")
	if got := strings.Join(e.ls()[1].Users, ","); got != "bob@example.com" {
		t.Fatalf("pod2 users after unassign alice: %q", got)
	}
	cm := e.kubectl("-n", e.ns, "get", "configmap", "desk-access", "-o", "jsonpath={.data.access\\.json}")
	if !strings.Contains(cm, `"pod2"`) || !strings.Contains(cm, "bob@example.com") ||
		strings.Contains(cm, "alice") {
		t.Fatalf("gateway config after unassign: %s", cm)
	}
	e.must("unassign", "pod2")
	if got := e.ls()[1].Users; len(got) != 0 {
		t.Fatalf("pod2 users after unassign all: %v", got)
	}
}
