package kube

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/gateway"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func goldenConfig(t *testing.T) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "deskctl.yaml")
	body := "domain: example.com\nexpose:\n  alb:\n    certificateARN: arn:aws:acm:eu-west-1:123456789012:certificate/abc\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(config.Options{File: path, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBuildersGolden compares every built object with its golden file. Run
// with -update to rewrite them after an intended change.
func TestBuildersGolden(t *testing.T) {
	cfg := goldenConfig(t)
	b := NewBuilder(cfg, []string{"173.245.48.0/20", "2400:cb00::/32"})
	d, err := cfg.Set().Desktop(3)
	if err != nil {
		t.Fatal(err)
	}
	sts, err := b.StatefulSet(5)
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string]runtime.Object{
		"namespace":      b.Namespace(),
		"serviceaccount": b.ServiceAccount(),
		"headless":       b.HeadlessService(),
		"statefulset":    sts,
		"networkpolicy":  b.NetworkPolicy(),
		"service":        b.DesktopService(d, []string{"alice@example.com"}),
		"ingress":        b.Ingress(d),
	}
	for name, obj := range objects {
		got, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name+".golden.yaml")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s:\n%s", name, path, got)
		}
	}
}

func TestSecretsKeepValuesAndMountOnlyDigests(t *testing.T) {
	cfg := goldenConfig(t)
	b := NewBuilder(cfg, nil)
	ds, _ := cfg.Set().Desktops(2)
	mounted := map[string][]byte{"desk-1": []byte("kept"), "desk-9": []byte("dropped")}
	local := map[string][]byte{"desk-1": []byte("local-1")}
	n := 0
	m, l, err := b.Secrets(ds, mounted, local, func() ([]byte, error) {
		n++
		return []byte(fmt.Sprintf("new-%d", n)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data["desk-1"]) != "kept" || string(l.Data["desk-1"]) != "local-1" {
		t.Errorf("existing values not kept: %v %v", m.Data, l.Data)
	}
	if _, ok := m.Data["desk-9"]; ok {
		t.Error("a removed desktop's password is kept")
	}
	if len(m.Data) != 4 || len(l.Data) != 2 || n != 2 {
		t.Errorf("%d mounted keys, %d local keys, %d generated; want 4, 2, 2", len(m.Data), len(l.Data), n)
	}
	for _, d := range ds {
		raw := string(l.Data[d.Pod])
		if got := string(m.Data[d.Pod+".local"]); got != gateway.LocalSecretDigest(raw) {
			t.Errorf("%s: the mounted Secret holds %q, not the digest of its local secret", d.Pod, got)
		}
		for k, v := range m.Data {
			if string(v) == raw {
				t.Errorf("the mounted Secret holds %s's local secret under %s", d.Pod, k)
			}
		}
	}
	if m.Name != desktop.SecretName("desk") || l.Name != desktop.LocalAccessSecretName("desk") {
		t.Errorf("names %s, %s", m.Name, l.Name)
	}
}

func TestIngressAnnotations(t *testing.T) {
	cfg := goldenConfig(t)
	d, _ := cfg.Set().Desktop(51)
	ing := NewBuilder(cfg, []string{"10.0.0.0/8"}).Ingress(d)
	want := map[string]string{
		AnnGroupName:      "deskctl-desktops-desk-2",
		AnnScheme:         "internet-facing",
		AnnTargetType:     "ip",
		AnnListenPorts:    `[{"HTTPS":443}]`,
		AnnHealthcheck:    "/healthz",
		AnnLBAttributes:   "idle_timeout.timeout_seconds=3600",
		AnnInboundCIDRs:   "10.0.0.0/8",
		AnnCertificateARN: cfg.Expose.ALB.CertificateARN,
	}
	for k, v := range want {
		if ing.Annotations[k] != v {
			t.Errorf("%s = %q, want %q", k, ing.Annotations[k], v)
		}
	}
	if ing.Spec.Rules[0].Host != "pod51.example.com" || ing.Labels[desktop.LabelOrdinal] != "51" {
		t.Errorf("ingress %+v", ing.Spec.Rules)
	}
}
