package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/kube"
)

// TestConcurrentRunsTakeTurns: a run that finds the set locked exits 3 and
// names the holder; with --wait-lock it waits its turn, and the state
// converges to the last run's.
func TestConcurrentRunsTakeTurns(t *testing.T) {
	e := newEnv(t, "lock")
	e.must("up", "--replicas", "1")

	// Hold the lock as another run would.
	client, err := e.cluster.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	held, err := kube.AcquireLock(ctx, client, e.ns, "desk", false)
	if err != nil {
		t.Fatal(err)
	}

	r := e.run("scale", "3")
	if r.code != 3 {
		t.Fatalf("scale under a held lock: exit %d, want 3\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, kube.Holder()) {
		t.Errorf("the error does not name the holder %q: %s", kube.Holder(), r.stderr)
	}
	if n := len(e.ls()); n != 1 {
		t.Fatalf("the refused scale changed the set to %d desktops", n)
	}

	// With --wait-lock, two runs queue behind the holder and then each
	// other.
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i, count := range []string{"4", "6"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.run("scale", count, "--wait-lock", "--timeout", "2m")
		}()
	}
	time.Sleep(2 * time.Second)
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("waiting run %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}

	// The last run wins, and the objects agree with the count.
	items := e.ls()
	n := len(items)
	if n != 4 && n != 6 {
		t.Fatalf("after scale 4 and 6 the set has %d desktops", n)
	}
	svcs := e.kubeGet("services", "-l"+desktop.LabelDesktop).Items
	ings := e.kubeGet("ingresses", "-l"+desktop.Selector("desk")).Items
	if len(svcs) != n || len(ings) != n {
		t.Fatalf("%d desktops but %d services and %d ingresses", n, len(svcs), len(ings))
	}
	leases := e.kubeGet("leases", "-l"+desktop.LabelManagedBy).Items
	if len(leases) != 0 {
		t.Fatalf("the lock was not released: %d leases remain", len(leases))
	}
}
