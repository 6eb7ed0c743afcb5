// Command localcluster starts and stops the local control plane that
// `make cluster-up`, `make cluster-down` and `make demo` use. The cluster
// runs in the background, its state and kubeconfig in .cluster/ of the
// repository.
//
//	localcluster up [--nodes N]   start, or reuse the running cluster
//	localcluster down             stop the recorded processes, remove the state
//	localcluster status           tell whether the cluster runs
//	localcluster tools            build the control plane into its cache only
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/deskctl/deskctl/internal/testenv"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("localcluster", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("dir", "", "state directory (default .cluster in the repository root)")
	nodes := flags.Int("nodes", 2, "number of fake nodes")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: localcluster up|down|status|tools [flags]")
		flags.PrintDefaults()
	}
	if len(args) == 0 {
		flags.Usage()
		return 2
	}
	verb := args[0]
	if err := flags.Parse(args[1:]); err != nil {
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dir == "" {
		root, err := testenv.RepoRoot(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "localcluster: %v\n", err)
			return 1
		}
		*dir = filepath.Join(root, ".cluster")
	}

	var err error
	switch verb {
	case "up":
		err = up(ctx, *dir, *nodes, stdout, stderr)
	case "down":
		err = down(*dir, stderr)
	case "status":
		err = status(ctx, *dir, stdout)
	case "tools":
		var tools *testenv.Tools
		tools, err = testenv.BuildTools(ctx, testenv.ToolsOptions{Log: stderr})
		if err == nil {
			fmt.Fprintln(stdout, tools.Dir)
		}
	default:
		flags.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "localcluster %s: %v\n", verb, err)
		return 1
	}
	return 0
}

// up reuses a healthy recorded cluster, or replaces a broken one with a
// fresh start.
func up(ctx context.Context, dir string, nodes int, stdout, stderr io.Writer) error {
	c, err := testenv.Attach(dir)
	switch {
	case err == nil:
		herr := c.Healthy(ctx)
		if herr == nil {
			fmt.Fprintf(stderr, "localcluster: reusing the cluster at %s\n", c.Server())
			fmt.Fprintln(stdout, c.Kubeconfig())
			return nil
		}
		fmt.Fprintf(stderr, "localcluster: the recorded cluster is broken (%v): starting anew\n", herr)
		if err := c.Stop(); err != nil {
			return err
		}
	case !errors.Is(err, testenv.ErrNoCluster):
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, 45*time.Minute)
	defer cancel()
	c, err = testenv.Start(ctx, testenv.Options{Dir: dir, Nodes: nodes, Detach: true, Log: stderr})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "localcluster: try kubectl --kubeconfig %s get nodes\n", c.Kubeconfig())
	fmt.Fprintln(stdout, c.Kubeconfig())
	return nil
}

// down stops exactly the recorded processes and removes the state.
func down(dir string, stderr io.Writer) error {
	c, err := testenv.Attach(dir)
	if errors.Is(err, testenv.ErrNoCluster) {
		fmt.Fprintln(stderr, "localcluster: no cluster recorded")
		return os.RemoveAll(dir)
	}
	if err != nil {
		return err
	}
	if err := c.Stop(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "localcluster: stopped processes %v\n", c.PIDs())
	return os.RemoveAll(dir)
}

func status(ctx context.Context, dir string, stdout io.Writer) error {
	c, err := testenv.Attach(dir)
	if err != nil {
		return err
	}
	if err := c.Healthy(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "running at %s, kubeconfig %s, processes %v\n", c.Server(), c.Kubeconfig(), c.PIDs())
	return nil
}
