package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	code := Run(context.Background(), args, streams)
	return out.String(), errOut.String(), code
}

func TestVersionJSON(t *testing.T) {
	out, _, code := runCLI(t, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "commit", "date", "goVersion", "platform"} {
		if _, ok := v[k]; !ok {
			t.Errorf("version -o json lacks %q: %s", k, out)
		}
	}
	if _, _, code := runCLI(t, "version", "-o", "xml"); code != ExitUsage {
		t.Errorf("version -o xml: exit %d, want %d", code, ExitUsage)
	}
}

func TestBashAcceptsTheCompletionScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	out, _, code := runCLI(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_deskctl") {
		t.Fatalf("completion bash: exit %d", code)
	}
	path := filepath.Join(t.TempDir(), "deskctl.bash")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "-c", "source "+path+" && complete -p deskctl")
	if msg, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(msg), "deskctl") {
		t.Fatalf("bash rejects the script: %v\n%s", err, msg)
	}
	if _, _, code := runCLI(t, "completion", "tcsh"); code != ExitUsage {
		t.Errorf("completion tcsh: exit %d, want %d", code, ExitUsage)
	}
}

func TestConfigViewRedactsTheToken(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cr3t-token-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.yaml")
	body := "domain: example.com\ncloudflare:\n  apiTokenFile: " + token + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"yaml", "json"} {
		out, errOut, code := runCLI(t, "--config", cfg, "config", "view", "-o", format)
		if code != 0 {
			t.Fatalf("config view: exit %d: %s", code, errOut)
		}
		if strings.Contains(out+errOut, "s3cr3t") {
			t.Fatalf("config view -o %s prints the token", format)
		}
		if !strings.Contains(out, "<redacted>") || !strings.Contains(out, "example.com") {
			t.Fatalf("config view -o %s:\n%s", format, out)
		}
	}
}

func TestConfigInitWritesALoadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deskctl.yaml")
	if _, errOut, code := runCLI(t, "config", "init", path); code != 0 {
		t.Fatalf("config init: exit %d: %s", code, errOut)
	}
	if _, _, code := runCLI(t, "config", "init", path); code != ExitUsage {
		t.Fatalf("config init over an existing file: exit %d, want %d", code, ExitUsage)
	}
	out, errOut, code := runCLI(t, "--config", path, "config", "view", "-o", "json")
	if code != 0 {
		t.Fatalf("the starter file does not load: %s", errOut)
	}
	if !strings.Contains(out, `"maxDesktopsPerGroup": 50`) {
		t.Errorf("starter file view:\n%s", out)
	}
}
