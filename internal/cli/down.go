package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/deskctl/deskctl/internal/output"
)

func newDownCommand(f *Factory) *cobra.Command {
	var (
		m             mutateFlags
		yes           bool
		deleteVolumes bool
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Delete every object of the set",
		Long: `Delete every object deskctl created for the set, in the cluster and in
Cloudflare. Objects deskctl did not create are never touched. Home volumes
are kept unless --delete-volumes is given, and so is the namespace.

On a terminal, down asks for confirmation; elsewhere it needs --yes.`,
		Example: `  deskctl down --yes
  deskctl down --dry-run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := m.validate(); err != nil {
				return err
			}
			cfg, err := f.Config(cmd, nil)
			if err != nil {
				return err
			}
			if !m.dryRun && !yes {
				if !output.IsTerminal(f.Streams.In) {
					return usageErrorf("down deletes every desktop of set %q: "+
						"pass --yes to confirm when not on a terminal", cfg.Name)
				}
				what := "every desktop of set " + cfg.Name + " in namespace " + cfg.Namespace
				if deleteVolumes {
					what += ", WITH their home volumes"
				}
				fmt.Fprintf(f.Streams.ErrOut, "Delete %s? [y/N] ", what)
				answer, _ := bufio.NewReader(f.Streams.In).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return usageErrorf("down cancelled")
				}
			}
			o := m.options()
			o.Teardown, o.DeleteVolumes = true, deleteVolumes
			return converge(cmd.Context(), f, cfg, o)
		},
	}
	m.add(cmd.Flags(), false)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&deleteVolumes, "delete-volumes", false,
		"Also delete every home volume of the set (their files are lost)")
	return cmd
}
