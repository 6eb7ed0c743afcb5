package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// runAsDeskgate makes the test binary act as deskgate itself when a test
// starts it through the desktop entrypoint, so the end-to-end test and the
// benchmarks run the real main without a separate build.
const runAsDeskgate = "DESKGATE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsDeskgate) == "1" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

func TestApplyEnv(t *testing.T) {
	var stderr bytes.Buffer
	cmd := newCommand(&stderr)
	f := cmd.Flags()
	if err := f.Parse([]string{"--listen", ":1234"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DESKGATE_LISTEN":      ":9999",
		"DESKGATE_AUD":         "a,b",
		"DESKGATE_TEAM_DOMAIN": "team.example.com",
		"DESKGATE_KEEPALIVE":   "5s",
	}
	err := applyEnv(f, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}

	// A flag given on the command line wins over its variable.
	if got, _ := f.GetString("listen"); got != ":1234" {
		t.Errorf("listen %q", got)
	}
	if got, _ := f.GetStringSlice("aud"); strings.Join(got, "|") != "a|b" {
		t.Errorf("aud %q", got)
	}
	if got, _ := f.GetDuration("keepalive"); got != 5*time.Second {
		t.Errorf("keepalive %s", got)
	}

	// A bad value names its variable.
	f2 := newCommand(&stderr).Flags()
	err = applyEnv(f2, func(k string) (string, bool) {
		return "soon", k == "DESKGATE_KEEPALIVE"
	})
	if err == nil || !strings.Contains(err.Error(), "DESKGATE_KEEPALIVE") {
		t.Errorf("bad duration: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--access-config", "x.json"},
		{"--log-format", "xml", "--team-domain", "t.example.com"},
		{},
	} {
		var stderr bytes.Buffer
		if code := run(args, &stderr); code != 2 {
			t.Errorf("run %q = %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}
