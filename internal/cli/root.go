// Package cli holds deskctl's commands: each parses its flags, builds the
// clients it needs and calls into the engine. It is the only place that maps
// errors to exit codes.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Main runs deskctl with the process's arguments and streams and returns the
// exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	return Run(ctx, os.Args[1:], streams)
}

// Run executes one deskctl invocation and returns its exit code. Tests call
// it in-process with their own streams.
func Run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	root := NewRootCommand(streams)
	root.SetArgs(args)

	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	}
	return exitCode(err)
}

var negativeNumber = regexp.MustCompile(`unknown shorthand flag: '(\d)' in -(\d+)`)

// NewRootCommand builds the deskctl command tree. Building it does no I/O.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "deskctl",
		Short: "Run browser-accessible Linux desktops on Kubernetes behind Cloudflare Zero Trust",
		Long: `deskctl runs a set of Linux desktops on Kubernetes, one StatefulSet pod each,
and exposes every desktop on its own hostname behind Cloudflare Access.

Each command is one pass of the same plan: read what exists, compute the
changes, print them with --dry-run or apply them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)

	// Flag errors are usage errors (exit 2).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		// "scale -1" reaches pflag as a shorthand flag named 1.
		if m := negativeNumber.FindStringSubmatch(err.Error()); m != nil {
			return usageErrorf("count -%s is negative: counts are 0 or more", m[1])
		}
		return &UsageError{Err: err}
	})

	f := NewFactory(streams)
	f.AddFlags(root.PersistentFlags())

	root.AddCommand(
		newUpCommand(f),
		newScaleCommand(f),
		newLsCommand(f),
		newOpenCommand(f),
		newDownCommand(f),
		newAssignCommand(f),
		newUnassignCommand(f),
		newConfigCommand(f),
		newVersionCommand(streams),
		newCompletionCommand(streams),
	)
	return root
}
