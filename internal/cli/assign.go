package cli

import (
	"slices"

	"github.com/spf13/cobra"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/kube"
)

func newAssignCommand(f *Factory) *cobra.Command {
	var m mutateFlags
	cmd := &cobra.Command{
		Use:   "assign DESKTOP EMAIL...",
		Short: "Restrict a desktop to named people",
		Long: `Restrict a desktop to the named people, in addition to those already
assigned: in its Cloudflare Access policy, and in its gateway's list.`,
		Example: `  deskctl assign pod3 alice@example.com bob@example.com`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErrorf("assign needs a desktop and at least one email, " +
					"e.g. 'deskctl assign pod3 alice@example.com'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAssign(cmd, f, m, args[0], args[1:], false)
		},
	}
	m.add(cmd.Flags(), false)
	return cmd
}

func newUnassignCommand(f *Factory) *cobra.Command {
	var m mutateFlags
	cmd := &cobra.Command{
		Use:   "unassign DESKTOP [EMAIL...]",
		Short: "Remove people from a desktop, or all of them",
		Long: `Remove the named people from a desktop's assignment, or everyone when no
email is given. A desktop with nobody assigned is open to the set-wide
admission (cloudflare.allow).`,
		Example: `  deskctl unassign pod3 alice@example.com
  deskctl unassign pod3`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageErrorf("unassign needs a desktop, e.g. 'deskctl unassign pod3'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAssign(cmd, f, m, args[0], args[1:], true)
		},
	}
	m.add(cmd.Flags(), false)
	return cmd
}

func runAssign(cmd *cobra.Command, f *Factory, m mutateFlags, ref string, emails []string, remove bool) error {
	if err := m.validate(); err != nil {
		return err
	}
	for _, e := range emails {
		if err := config.ValidateEmail(e); err != nil {
			return &UsageError{Err: err}
		}
	}
	cfg, err := f.Config(cmd, nil)
	if err != nil {
		return err
	}
	d, replicas, err := existingDesktop(cmd.Context(), f, cfg, ref)
	if err != nil {
		return err
	}
	client, _, err := f.Kube()
	if err != nil {
		return err
	}

	kb := kube.NewBackend(client, cfg, kube.Options{})
	obs, err := kb.Observe(cmd.Context())
	if err != nil {
		return err
	}
	users := kb.Users(obs)[d.Name]
	switch {
	case remove && len(emails) == 0:
		users = nil
	case remove:
		users = slices.DeleteFunc(users, func(u string) bool { return slices.Contains(emails, u) })
	default:
		for _, e := range emails {
			if !slices.Contains(users, e) {
				users = append(users, e)
			}
		}
	}
	slices.Sort(users)

	o := m.options()
	o.Replicas = replicas
	o.Users = map[string][]string{d.Name: users}
	return converge(cmd.Context(), f, cfg, o)
}
