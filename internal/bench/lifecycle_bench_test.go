package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/kube"
)

// Targets from the lifecycle issue: deskctl's time as a fraction of
// kubectl's doing the same work.
const (
	scaleTarget = 0.2
	lsTarget    = 1.0
)

// Each benchmark measures once per invocation, whatever b.N: scaling from 0
// to 100 cannot be repeated on the same state, so the benchmark makes its
// own rounds on fresh namespaces. `make bench` runs it with -benchtime 1x.

// BenchmarkScale0To100 times `deskctl scale 100` on an empty set against
// `kubectl apply --server-side` of the same 100 Services and 100 Ingresses,
// counts the writes of each, and checks that an unchanged re-run of
// deskctl writes nothing.
func BenchmarkScale0To100(b *testing.B) {
	const (
		n      = 100
		rounds = 3
	)
	s := newBench(b)
	s.waitQuiet()

	// kubectl keeps a discovery cache, which a user's kubectl has warm.
	s.kubectl(nil, "api-resources")

	var (
		desks, refs   []measured
		ratios        []float64
		deskNS, refNS string
		apply         []string
	)
	for round := range rounds {
		// Setup, not measured: an empty set, and the reference namespace
		// with the same objects as manifests.
		deskNS, refNS = s.namespace("bench-scale-deskctl"), s.namespace("bench-scale-kubectl")
		s.deskctl(deskNS, nil, "up", "--replicas", "0")
		s.createNamespace(refNS)
		manifests := filepath.Join(b.TempDir(), "desktops.yaml")
		if err := os.WriteFile(manifests, referenceManifests(b, s.config, refNS, n), 0o644); err != nil {
			b.Fatal(err)
		}
		apply = []string{"apply", "--server-side", "--field-manager=bench", "-f", manifests}

		// kubectl first: deskctl's scale also starts 100 pods, whose
		// controllers would otherwise load kubectl's measurement.
		ref := s.measure(func() time.Duration { return s.kubectl(nil, apply...) })
		before := s.writeCount()
		desk := s.measure(func() time.Duration { return s.deskctl(deskNS, nil, "scale", fmt.Sprint(n)) })
		b.Logf("round %d: deskctl %s (%.2fs CPU, API server and etcd %.2fs), "+
			"kubectl %s (%.2fs CPU, API server and etcd %.2fs): ratio %.3f", round+1,
			round3(desk.took), desk.client, desk.server, round3(ref.took), ref.client, ref.server,
			desk.took.Seconds()/ref.took.Seconds())
		if round == 0 {
			b.Logf("deskctl scale 0→%d wrote: %s", n, s.writeSummary(before))
		}
		desks, refs = append(desks, desk), append(refs, ref)
		ratios = append(ratios, desk.took.Seconds()/ref.took.Seconds())

		// Both sides wrote the same per-desktop objects.
		s.checkObjects(deskNS, n)
		s.checkObjects(refNS, n)

		// The pods settle before anything else is measured.
		s.waitPods(deskNS, n, true, 2*time.Minute)
	}
	desk, ref := medianRun(desks), medianRun(refs)

	// Unchanged re-runs on the last round's namespaces.
	refNoop := s.measure(func() time.Duration { return s.kubectl(nil, apply...) })
	deskNoop := s.measure(func() time.Duration { return s.deskctl(deskNS, nil, "scale", fmt.Sprint(n)) })
	upNoop := s.measure(func() time.Duration { return s.deskctl(deskNS, nil, "up") })
	if deskNoop.writes != 0 || upNoop.writes != 0 {
		b.Fatalf("unchanged re-runs wrote: scale %d, up %d; want 0 each",
			deskNoop.writes, upNoop.writes)
	}

	// The two sides of a round run back to back, under the same load from
	// elsewhere; the median of the rounds' ratios is the figure compared
	// with the target. The ratio of the medians is reported beside it.
	ratio := medianFloat(ratios)
	ofMedians := desk.took.Seconds() / ref.took.Seconds()
	b.ReportMetric(desk.took.Seconds(), "deskctl-s")
	b.ReportMetric(ref.took.Seconds(), "kubectl-s")
	b.ReportMetric(ratio, "ratio-vs-kubectl")
	b.ReportMetric(ofMedians, "ratio-of-medians")
	b.ReportMetric(float64(desk.writes), "deskctl-writes")
	b.ReportMetric(float64(ref.writes), "kubectl-writes")
	b.ReportMetric(desk.client, "deskctl-cpu-s")
	b.ReportMetric(desk.server, "deskctl-server-cpu-s")
	b.ReportMetric(ref.client, "kubectl-cpu-s")
	b.ReportMetric(ref.server, "kubectl-server-cpu-s")
	b.ReportMetric(deskNoop.took.Seconds(), "deskctl-noop-s")
	b.ReportMetric(upNoop.took.Seconds(), "deskctl-up-noop-s")
	b.ReportMetric(refNoop.took.Seconds(), "kubectl-noop-s")
	b.ReportMetric(float64(refNoop.writes), "kubectl-noop-writes")

	b.Logf("scale 0→%d, median of %d: deskctl %s with %d writes, "+
		"kubectl apply --server-side %s with %d writes: ratio %.3f (target ≤ %.1f; "+
		"ratio of the medians %.3f)", n, rounds, round3(desk.took), desk.writes,
		round3(ref.took), ref.writes, ratio, scaleTarget, ofMedians)
	b.Logf("unchanged re-run: deskctl scale %s and up %s with 0 writes, "+
		"kubectl apply %s with %d writes",
		round3(deskNoop.took), round3(upNoop.took), round3(refNoop.took), refNoop.writes)
	checkTarget(b, "scale 0→100", ratio, scaleTarget)
}

// BenchmarkLs500 times `deskctl ls -o json` over 500 desktops against
// `kubectl get` of the kinds a desktop is made of, alternating the two and
// comparing medians.
func BenchmarkLs500(b *testing.B) {
	const (
		n      = 500
		rounds = 5
	)
	s := newBench(b)
	ns := s.namespace("bench-ls")

	// Setup, not measured: 500 desktops whose pods exist. Some may still
	// be starting; alternating the runs gives both sides the same state.
	s.deskctl(ns, nil, "scale", fmt.Sprint(n))
	s.waitPods(ns, n, false, 3*time.Minute)
	s.waitQuiet()
	get := []string{"get", "statefulset,pods,services,ingresses", "-n", ns,
		"-l", desktop.Selector(setName), "-o", "json"}

	// One untimed run of each checks its output and warms both up.
	var out bytes.Buffer
	s.deskctl(ns, &out, "ls", "-o", "json")
	if got := countItems(b, out.Bytes()); got != n {
		b.Fatalf("deskctl ls -o json listed %d desktops, want %d", got, n)
	}
	out.Reset()
	s.kubectl(&out, get...)
	if got := countItems(b, out.Bytes()); got < 3*n+1 {
		b.Fatalf("kubectl get listed %d objects, want at least %d", got, 3*n+1)
	}

	// Alternate, so that both see the same background load.
	var desks, refs []measured
	for range rounds {
		desks = append(desks, s.measure(func() time.Duration {
			return s.deskctl(ns, nil, "ls", "-o", "json")
		}))
		refs = append(refs, s.measure(func() time.Duration { return s.kubectl(nil, get...) }))
	}
	desk, ref := medianRun(desks), medianRun(refs)
	for _, m := range append(desks, refs...) {
		if m.writes != 0 {
			b.Fatalf("a read wrote %d times", m.writes)
		}
	}

	ratio := desk.took.Seconds() / ref.took.Seconds()
	b.ReportMetric(millis(desk.took), "deskctl-ms")
	b.ReportMetric(millis(ref.took), "kubectl-ms")
	b.ReportMetric(ratio, "ratio-vs-kubectl")
	b.ReportMetric(desk.client, "deskctl-cpu-s")
	b.ReportMetric(ref.client, "kubectl-cpu-s")
	b.Logf("ls over %d desktops, median of %d: deskctl ls -o json %s (%.2fs CPU), "+
		"kubectl get %s (%.2fs CPU): ratio %.3f (target ≤ %.1f)", n, rounds,
		round3(desk.took), desk.client, round3(ref.took), ref.client, ratio, lsTarget)
	checkTarget(b, "ls over 500 desktops", ratio, lsTarget)
}

// referenceManifests renders, with deskctl's own builders, the Service and
// Ingress of desktops 1 to n in namespace ns, as a multi-document YAML file
// for kubectl.
func referenceManifests(b *testing.B, configFile, ns string, n int) []byte {
	b.Helper()
	cfg, _, err := config.Load(config.Options{File: configFile})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Namespace = ns
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	desktops, err := cfg.Set().Desktops(n)
	if err != nil {
		b.Fatal(err)
	}

	builder := kube.NewBuilder(cfg, nil)
	var buf bytes.Buffer
	for _, d := range desktops {
		for _, obj := range []runtime.Object{builder.DesktopService(d, nil), builder.Ingress(d)} {
			doc, err := manifest(obj)
			if err != nil {
				b.Fatal(err)
			}
			buf.WriteString("---\n")
			buf.Write(doc)
		}
	}
	return buf.Bytes()
}

// manifest is obj as YAML without the empty status and creation time that
// typed objects carry.
func manifest(obj runtime.Object) ([]byte, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	return yaml.Marshal(u)
}

// checkObjects checks that ns holds n per-desktop Services and n Ingresses.
func (s *bench) checkObjects(ns string, n int) {
	s.b.Helper()
	sel := metav1.ListOptions{LabelSelector: desktop.Selector(setName) + "," +
		desktop.LabelComponent + "=desktop"}
	svcs, err := s.client.CoreV1().Services(ns).List(s.ctx, sel)
	if err != nil {
		s.b.Fatal(err)
	}
	ings, err := s.client.NetworkingV1().Ingresses(ns).List(s.ctx,
		metav1.ListOptions{LabelSelector: desktop.Selector(setName)})
	if err != nil {
		s.b.Fatal(err)
	}
	if len(svcs.Items) != n || len(ings.Items) != n {
		s.b.Fatalf("namespace %s holds %d desktop Services and %d Ingresses, want %d each",
			ns, len(svcs.Items), len(ings.Items), n)
	}
}

// writeSummary groups the writes made since the count before by verb and
// resource: "patch services ×100, ...".
func (s *bench) writeSummary(before int) string {
	s.b.Helper()
	writes, err := s.cluster.Writes()
	if err != nil {
		s.b.Fatal(err)
	}
	counts := map[string]int{}
	for _, w := range writes[before:] {
		res := w.Resource
		if w.Subresource != "" {
			res += "/" + w.Subresource
		}
		counts[w.Verb+" "+res]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

// countItems counts the items of a JSON list.
func countItems(b *testing.B, data []byte) int {
	b.Helper()
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		b.Fatalf("parse list: %v\n%.300s", err, data)
	}
	return len(list.Items)
}

// checkTarget reports whether a ratio meets its target.
func checkTarget(b *testing.B, what string, ratio, target float64) {
	b.Helper()
	if ratio > target {
		b.Errorf("%s: deskctl took %.3f× kubectl's time, over the target of %.1f×", what, ratio, target)
		return
	}
	b.Logf("%s: target met (%.3f ≤ %.1f)", what, ratio, target)
}

func round3(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
