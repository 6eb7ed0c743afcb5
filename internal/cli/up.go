package cli

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// mutateFlags are the flags every mutating command shares.
type mutateFlags struct {
	dryRun   bool
	output   string
	wait     bool
	waitLock bool
	timeout  time.Duration
}

func (m *mutateFlags) add(fs *pflag.FlagSet, wait bool) {
	fs.BoolVar(&m.dryRun, "dry-run", false, "Print the plan and change nothing")
	fs.StringVarP(&m.output, "output", "o", "",
		"Output format: json or yaml (with --dry-run, yaml prints the manifests)")
	if wait {
		fs.BoolVar(&m.wait, "wait", false, "Wait until every desktop is Ready")
	}
	fs.BoolVar(&m.waitLock, "wait-lock", false,
		"Wait for another deskctl run on this set to finish instead of exiting with code 3")
	fs.DurationVar(&m.timeout, "timeout", 10*time.Minute, "Give up after this long")
}

func (m *mutateFlags) validate() error {
	switch m.output {
	case "", "json", "yaml":
	default:
		return usageErrorf("unknown output format %q: use json or yaml", m.output)
	}
	if m.timeout <= 0 {
		return usageErrorf("--timeout must be positive, got %s", m.timeout)
	}
	return nil
}

func (m *mutateFlags) options() changeOptions {
	return changeOptions{
		DryRun: m.dryRun, Output: m.output, Wait: m.wait, WaitLock: m.waitLock, Timeout: m.timeout,
	}
}

func newUpCommand(f *Factory) *cobra.Command {
	var m mutateFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create or update every cluster and Cloudflare object of the set",
		Long: `Create or update everything the configured set of desktops needs: the
namespace, the StatefulSet and its Secret, a Service and Ingress per desktop,
and with Cloudflare enabled the DNS records and Access applications.

Run again, up changes only what differs, and nothing at all when nothing does.`,
		Example: `  deskctl up --domain example.com --replicas 3
  deskctl up --dry-run -o yaml | kubectl apply --dry-run=server -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := m.validate(); err != nil {
				return err
			}
			cfg, err := f.Config(cmd, map[string]string{
				"domain": "domain", "replicas": "replicas", "image": "image", "name": "name",
			})
			if err != nil {
				return err
			}
			o := m.options()
			o.Replicas, o.KeepReplicas = cfg.Replicas, !cfg.ReplicasGiven
			return converge(cmd.Context(), f, cfg, o)
		},
	}
	m.add(cmd.Flags(), true)
	cmd.Flags().String("domain", "", "Domain of the desktops' hosts (config key domain)")
	cmd.Flags().Int("replicas", 1, "Number of desktops (config key replicas)")
	cmd.Flags().String("image", "", "Desktop image (config key image)")
	cmd.Flags().String("name", "", "Name of the set (config key name)")
	return cmd
}

func newScaleCommand(f *Factory) *cobra.Command {
	var (
		m             mutateFlags
		deleteVolumes bool
	)
	cmd := &cobra.Command{
		Use:   "scale COUNT",
		Short: "Set the number of desktops",
		Long: `Set the number of desktops to COUNT (0 is allowed). Desktops are added or
removed at the end: scaling 5 to 2 removes pod3, pod4 and pod5, with their
Services, Ingresses, DNS records and Access applications. Home volumes are
kept unless --delete-volumes is given, so scaling back up finds them again.`,
		Example: `  deskctl scale 10 --wait
  deskctl scale 0`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("scale needs one count, e.g. 'deskctl scale 5'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseCount(args[0])
			if err != nil {
				return err
			}
			if err := m.validate(); err != nil {
				return err
			}
			cfg, err := f.Config(cmd, nil)
			if err != nil {
				return err
			}
			if n > cfg.MaxReplicas {
				return usageErrorf("cannot scale to %d: maxReplicas is %d (raise it in the config file)",
					n, cfg.MaxReplicas)
			}
			cfg.Replicas = n
			o := m.options()
			o.Replicas, o.DeleteVolumes = n, deleteVolumes
			return converge(cmd.Context(), f, cfg, o)
		},
	}
	m.add(cmd.Flags(), true)
	cmd.Flags().BoolVar(&deleteVolumes, "delete-volumes", false,
		"Also delete the home volumes of removed desktops (their files are lost)")
	return cmd
}

// parseCount reads a desktop count: a whole number, 0 or more.
func parseCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, usageErrorf("count %q is not a whole number: use e.g. 'deskctl scale 5'", s)
	}
	if n < 0 {
		return 0, usageErrorf("count %d is negative: use 0 to remove every desktop", n)
	}
	return n, nil
}
