package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "deskctl.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	cfg, file, err := Load(Options{File: writeConfig(t, "domain: example.com\n"), Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if file == "" {
		t.Error("the file read is not reported")
	}
	if cfg.Name != "desk" || cfg.Namespace != "desktops" || cfg.HostPattern != "pod{{.Ordinal}}" ||
		cfg.Replicas != 1 || cfg.MaxReplicas != 500 || cfg.Home.Size != "10Gi" ||
		cfg.Expose.Mode != ExposeALB || cfg.Expose.IngressClass != "alb" ||
		cfg.Expose.ALB.MaxDesktopsPerGroup != 50 || cfg.Expose.ALB.IdleTimeoutSeconds != 3600 ||
		cfg.Cloudflare.Access.Mode != AccessPerDesktop ||
		cfg.Cloudflare.Access.SessionDuration != 24*time.Hour {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.ReplicasGiven {
		t.Error("replicas counted as given")
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the defaults with a domain do not validate: %v", err)
	}
}

// Precedence: flag > environment > file > default.
func TestPrecedence(t *testing.T) {
	file := writeConfig(t, "domain: file.example.com\nreplicas: 3\nexpose:\n  alb:\n    idleTimeoutSeconds: 100\n")
	env := envOf(map[string]string{
		"DESKCTL_REPLICAS":                      "4",
		"DESKCTL_EXPOSE_ALB_IDLETIMEOUTSECONDS": "200",
		"DESKCTL_CLOUDFLARE_ALLOW_EMAILS":       "a@example.com,b@example.com",
	})
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Int("replicas", 0, "")
	fs.String("domain", "", "")
	if err := fs.Parse([]string{"--replicas", "5"}); err != nil {
		t.Fatal(err)
	}
	flags := map[string]*pflag.Flag{"replicas": fs.Lookup("replicas"), "domain": fs.Lookup("domain")}

	cfg, _, err := Load(Options{File: file, Getenv: env, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Replicas != 5 {
		t.Errorf("replicas = %d: the flag should win", cfg.Replicas)
	}
	if cfg.Expose.ALB.IdleTimeoutSeconds != 200 {
		t.Errorf("idle timeout = %d: the environment should beat the file", cfg.Expose.ALB.IdleTimeoutSeconds)
	}
	if cfg.Domain != "file.example.com" {
		t.Errorf("domain = %q: an unset flag must not override the file", cfg.Domain)
	}
	if strings.Join(cfg.Cloudflare.Allow.Emails, " ") != "a@example.com b@example.com" {
		t.Errorf("list from the environment: %v", cfg.Cloudflare.Allow.Emails)
	}
	if cfg.Expose.ALB.MaxDesktopsPerGroup != 50 {
		t.Errorf("an untouched key lost its default: %d", cfg.Expose.ALB.MaxDesktopsPerGroup)
	}
	if !cfg.ReplicasGiven {
		t.Error("replicas set by a flag is not counted as given")
	}
}

func TestTokenComesFromEnvOrFile(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeConfig(t, "domain: example.com\ncloudflare:\n  apiTokenFile: "+tokenFile+"\n")

	cfg, _, err := Load(Options{File: file, Getenv: envOf(nil)})
	if err != nil || cfg.Cloudflare.APIToken != "from-file" {
		t.Fatalf("token from file: %q, %v", cfg.Cloudflare.APIToken, err)
	}
	cfg, _, err = Load(Options{File: file, Getenv: envOf(map[string]string{"CLOUDFLARE_API_TOKEN": "from-env"})})
	if err != nil || cfg.Cloudflare.APIToken != "from-env" {
		t.Fatalf("token from env: %q, %v", cfg.Cloudflare.APIToken, err)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		"replicaz: 2\n":                         "replicaz",
		"expose:\n  alb:\n    maxDesktops: 3\n": "expose.alb.maxdesktops",
		"cloudflare: {access: {mode: x}}\n":     "", // decoded fine, refused by Validate
		"domain: [\n":                           "not valid YAML",
		"replicas: many\n":                      "replicas",
	}
	for body, want := range cases {
		_, _, err := Load(Options{File: writeConfig(t, body), Getenv: envOf(nil)})
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", body, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to name %q", body, err, want)
		}
	}
	if _, _, err := Load(Options{File: "/nonexistent/deskctl.yaml", Getenv: envOf(nil)}); err == nil {
		t.Error("a missing --config file is not an error")
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	cases := map[string]func(*Config){
		"expose.mode":                    func(c *Config) { c.Expose.Mode = "nodeport" },
		"expose.alb.maxDesktopsPerGroup": func(c *Config) { c.Expose.ALB.MaxDesktopsPerGroup = 0 },
		"expose.alb.idleTimeoutSeconds":  func(c *Config) { c.Expose.ALB.IdleTimeoutSeconds = 4001 },
		"home.size":                      func(c *Config) { c.Home.Size = "big" },
		"cloudflare.accountID":           func(c *Config) { c.Cloudflare.Enabled = true },
		"cloudflare.allow":               func(c *Config) { c.Cloudflare.Allow.Emails = []string{"nope"} },
		"cloudflare.access.mode":         func(c *Config) { c.Cloudflare.Access.Mode = "all" },
		"replicas":                       func(c *Config) { c.Replicas = 501 },
		"expose.alb.certificateARN":      func(c *Config) { c.Expose.ALB.CertificateARN = "cert" },
	}
	for key, mutate := range cases {
		cfg, _, err := Load(Options{File: writeConfig(t, "domain: example.com\n"), Getenv: envOf(nil)})
		if err != nil {
			t.Fatal(err)
		}
		mutate(cfg)
		err = cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), key) {
			t.Errorf("%s: Validate = %v", key, err)
		}
	}
}
