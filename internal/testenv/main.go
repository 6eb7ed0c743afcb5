package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shared is the one cluster of a test binary, started by the first Current.
type shared struct {
	ctx     context.Context // ends on SIGINT or SIGTERM
	mu      sync.Mutex
	started bool
	cluster *Cluster
	err     error
	dir     string
}

// binary is set by Main for the life of the test binary.
var binary *shared

const tempPrefix = "deskctl-testenv-"

// Main runs a package's tests with one local cluster for the whole test
// binary, started by the first test that calls Current. It always stops the
// cluster and removes its directory: after the tests, after a failure, and
// on SIGINT or SIGTERM. A binary that a panic, a -timeout or SIGKILL ends
// takes its cluster with it through the parent-death signal, and the next
// Main removes the directory it left. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
func Main(m *testing.M) int {
	flag.Parse()
	removeStaleDirs()

	dir, err := os.MkdirTemp("", tempPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	binary = &shared{ctx: ctx, dir: dir}

	// A signal cancels a start in progress and stops the cluster before the
	// binary ends.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "testenv: %v: stopping the local cluster\n", sig)
		cancel()
		binary.stop()
		os.Exit(1)
	}()

	defer func() {
		signal.Stop(signals)
		close(signals)
		binary.stop()
	}()
	return m.Run()
}

// Current returns the test binary's cluster, starting it on first use. It
// skips the test in -short mode and fails it when the cluster cannot start
// or TestMain does not call Main.
func Current(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local control plane; skipped in -short mode")
	}
	if binary == nil {
		t.Fatal("testenv.Current needs TestMain to call testenv.Main")
	}
	c, err := binary.get()
	if err != nil {
		t.Fatalf("start the local cluster: %v", err)
	}
	return c
}

func (s *shared) get() (*Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true

		// A cold build of the control plane takes minutes; a start, seconds.
		ctx, cancel := context.WithTimeout(s.ctx, 45*time.Minute)
		defer cancel()
		s.cluster, s.err = Start(ctx, Options{Dir: s.dir, Log: os.Stderr})
	}
	return s.cluster, s.err
}

func (s *shared) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cluster != nil {
		if err := s.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop the local cluster: %v\n", err)
			return
		}
	}
	_ = os.RemoveAll(s.dir)
}

// removeStaleDirs removes the directories of test binaries that died
// without cleaning up, found by the process ID in their names.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, dir := range dirs {
		rest := strings.TrimPrefix(filepath.Base(dir), tempPrefix)
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(dir)
		}
	}
}
