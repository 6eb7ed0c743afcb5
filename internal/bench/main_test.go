// Package bench compares deskctl's lifecycle commands with kubectl doing the
// same work against the same local control plane. Run it with `make bench`;
// docs/benchmarks.md explains each comparison.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/deskctl/deskctl/internal/cli"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// setName is the desktop set every benchmark manages.
const setName = "desk"

// configYAML is the deskctl configuration of the benchmarks. maxReplicas
// leaves room for the largest set measured here.
const configYAML = `name: ` + setName + `
domain: example.com
maxReplicas: 1000
expose:
  mode: alb
`

// run numbers benchmark invocations, so that a benchmark the framework calls
// twice (-benchtime 5x does) never reuses a namespace.
var run atomic.Int64

// bench is one benchmark's view of the local cluster.
type bench struct {
	b       *testing.B
	ctx     context.Context
	cluster *testenv.Cluster
	client  kubernetes.Interface
	config  string
	// namespaces are deleted when the benchmark ends.
	namespaces []string
}

// newBench starts (or reuses) the local cluster and writes the config file.
func newBench(b *testing.B) *bench {
	b.Helper()
	started := time.Now()
	c := testenv.Current(b)
	b.Cleanup(func() { b.Logf("%s in all, setup included", time.Since(started).Round(time.Second)) })
	client, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)

	file := filepath.Join(b.TempDir(), "deskctl.yaml")
	if err := os.WriteFile(file, []byte(configYAML), 0o644); err != nil {
		b.Fatal(err)
	}
	s := &bench{b: b, ctx: ctx, cluster: c, client: client, config: file}
	b.Cleanup(s.deleteNamespaces)

	// The figures are reported through ReportMetric; the framework's own
	// ns/op would include the setup, so it is suppressed.
	b.Cleanup(func() { b.ReportMetric(0, "ns/op") })
	return s
}

// namespace returns a fresh namespace name for this invocation and deletes
// that namespace when the benchmark ends.
func (s *bench) namespace(prefix string) string {
	ns := fmt.Sprintf("%s-%d", prefix, run.Add(1))
	s.namespaces = append(s.namespaces, ns)
	return ns
}

// createNamespace creates a namespace outside any measurement.
func (s *bench) createNamespace(ns string) {
	s.b.Helper()
	_, err := s.client.CoreV1().Namespaces().Create(s.ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		s.b.Fatalf("create namespace %s: %v", ns, err)
	}
}

// deleteNamespaces deletes the benchmark's namespaces by name. It does not
// wait: the next benchmark waits for quiet before it measures.
func (s *bench) deleteNamespaces() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ns := range s.namespaces {
		err := s.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			s.b.Errorf("delete namespace %s: %v", ns, err)
		}
	}
}

// waitQuiet waits, for at most 2 minutes, until no namespace is
// terminating, so that an earlier benchmark's teardown does not load this
// one's measurements.
func (s *bench) waitQuiet() {
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Minute)
	defer cancel()
	var terminating []string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := s.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		terminating = terminating[:0]
		for _, ns := range list.Items {
			if ns.Status.Phase == corev1.NamespaceTerminating {
				terminating = append(terminating, ns.Name)
			}
		}
		return len(terminating) == 0, nil
	})
	if err != nil {
		s.b.Logf("namespaces %s still terminating after 2m; measuring anyway",
			strings.Join(terminating, ", "))
	}
}

// deskctl runs deskctl in-process on namespace ns and returns its stdout
// and wall time. A non-zero exit fails the benchmark.
func (s *bench) deskctl(ns string, stdout io.Writer, args ...string) time.Duration {
	s.b.Helper()
	var stderr bytes.Buffer
	if stdout == nil {
		stdout = io.Discard
	}
	full := append([]string{"--kubeconfig", s.cluster.Kubeconfig(), "--config", s.config,
		"-n", ns}, args...)
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: &stderr}

	start := time.Now()
	code := cli.Run(s.ctx, full, streams)
	took := time.Since(start)
	if code != 0 {
		s.b.Fatalf("deskctl %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	return took
}

// kubectl runs kubectl against the cluster and returns its wall time,
// process start included. A failure fails the benchmark.
func (s *bench) kubectl(stdout io.Writer, args ...string) time.Duration {
	s.b.Helper()
	var stderr bytes.Buffer
	if stdout == nil {
		stdout = io.Discard
	}
	cmd := s.cluster.Kubectl(s.ctx, args...)
	cmd.Stdout, cmd.Stderr = stdout, &stderr

	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		s.b.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return took
}

// writeCount is the admin user's write count so far, from the audit log.
func (s *bench) writeCount() int {
	s.b.Helper()
	n, err := s.cluster.WriteCount()
	if err != nil {
		s.b.Fatal(err)
	}
	return n
}

// measured is the wall time, the write requests and the processor time of
// one operation.
type measured struct {
	took   time.Duration
	writes int
	// client is the processor time of the client: deskctl in this process,
	// or the kubectl process.
	client float64
	// server is the processor time of kube-apiserver and etcd.
	server float64
}

// measure runs op and counts the writes and processor time it used.
func (s *bench) measure(op func() time.Duration) measured {
	s.b.Helper()
	writes := s.writeCount()
	client, server := clientCPU(), s.serverCPU()
	took := op()
	return measured{
		took:   took,
		writes: s.writeCount() - writes,
		client: clientCPU() - client,
		server: s.serverCPU() - server,
	}
}

// clientCPU is the processor time, in seconds, of this process and of its
// children that have ended: kubectl, but not the running control plane.
func clientCPU() float64 {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// serverCPU is the processor time, in seconds, that kube-apiserver and etcd
// have used, read from /proc; 0 where /proc is missing.
func (s *bench) serverCPU() float64 {
	total := 0.0
	for _, pid := range s.cluster.PIDs() {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(string(comm)) {
		case "kube-apiserver", "etcd":
			total += procCPU(pid)
		}
	}
	return total
}

// procCPU is a process's user and system time in seconds, from fields 14
// and 15 of /proc/PID/stat, which count clock ticks of 1/100 s.
func procCPU(pid int) float64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it do not.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	fields := strings.Fields(string(rest))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// waitPods waits, for at most timeout, until n pods of the set in ns exist
// and, with ready, are Ready, so that the controllers' work on them does not
// load the next measurement.
func (s *bench) waitPods(ns string, n int, ready bool, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	sel := metav1.ListOptions{LabelSelector: desktop.Selector(setName)}
	count := 0
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := s.client.CoreV1().Pods(ns).List(ctx, sel)
		if err != nil {
			return false, nil
		}
		count = 0
		for i := range pods.Items {
			if !ready || podReady(&pods.Items[i]) {
				count++
			}
		}
		return count >= n, nil
	})
	if err != nil {
		s.b.Logf("only %d of %d pods there (ready: %v) in %s after %s; measuring anyway",
			count, n, ready, ns, timeout)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// medianRun is the run of median wall time; it sorts its argument.
func medianRun(runs []measured) measured {
	sort.Slice(runs, func(i, j int) bool { return runs[i].took < runs[j].took })
	return runs[len(runs)/2]
}

// medianFloat is the median of xs; it sorts its argument.
func medianFloat(xs []float64) float64 {
	sort.Float64s(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
