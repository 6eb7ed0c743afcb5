// Package e2e drives deskctl, in-process, against a real local control
// plane: kube-apiserver, etcd, the controller manager, the scheduler and
// kwok nodes, started once for the package by internal/testenv.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/deskctl/deskctl/internal/cli"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// env is one test's view of the cluster: a config file for its own set and
// namespace.
type env struct {
	t       *testing.T
	cluster *testenv.Cluster
	config  string
	ns      string
}

// newEnv writes a config file for a set in namespace ns with the given
// extra YAML lines.
func newEnv(t *testing.T, ns string, extra ...string) *env {
	t.Helper()
	c := testenv.Current(t)
	path := filepath.Join(t.TempDir(), "deskctl.yaml")
	// Extra lines replace the base line of the same key.
	var body string
	for _, base := range []string{"name: desk", "namespace: " + ns, "domain: example.com"} {
		key := strings.SplitN(base, ":", 2)[0] + ":"
		if !slices.ContainsFunc(extra, func(l string) bool { return strings.HasPrefix(l, key) }) {
			body += base + "\n"
		}
	}
	body += strings.Join(extra, "\n") + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, cluster: c, config: path, ns: ns}
}

// result is what one deskctl run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// run runs deskctl in-process with the env's kubeconfig and config.
func (e *env) run(args ...string) result {
	e.t.Helper()
	full := append([]string{"--kubeconfig", e.cluster.Kubeconfig(), "--config", e.config}, args...)
	return runArgs(e.t, full...)
}

func runArgs(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	code := cli.Run(ctx, args, streams)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// must runs deskctl and fails the test unless it exits 0.
func (e *env) must(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("deskctl %s: exit %d\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// ls returns the desktops deskctl ls -o json reports.
func (e *env) ls() []desktop.Item {
	e.t.Helper()
	r := e.must("ls", "-o", "json")
	var list desktop.List
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		e.t.Fatalf("ls -o json is not JSON: %v\n%s", err, r.stdout)
	}
	if list.Kind != desktop.ListKind || list.APIVersion != desktop.ListAPIVersion {
		e.t.Fatalf("ls -o json has kind %q apiVersion %q", list.Kind, list.APIVersion)
	}
	return list.Items
}

// writes counts the admin's write requests so far. The audit log is
// written as responses complete, so it waits for the count to settle.
func (e *env) writes() int {
	e.t.Helper()
	last := -1
	for range 20 {
		n, err := e.cluster.WriteCount()
		if err != nil {
			e.t.Fatal(err)
		}
		if n == last {
			return n
		}
		last = n
		time.Sleep(300 * time.Millisecond)
	}
	return last
}

// kubectl runs kubectl against the cluster and returns its stdout.
func (e *env) kubectl(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := e.cluster.Kubectl(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}
