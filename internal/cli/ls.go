package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/kube"
	"github.com/deskctl/deskctl/internal/output"
)

func newLsCommand(f *Factory) *cobra.Command {
	var noHeaders bool
	printFlags := genericclioptions.NewPrintFlags("").WithDefaultOutput("")
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the desktops of the set and their state",
		Long: `List the desktops of the set: their URL, state, assigned users, node and age.

-o json and -o yaml print a stable schema (see docs/output.md); -o name prints
one desktop name a line.`,
		Example: `  deskctl ls
  deskctl ls -o wide
  deskctl ls -o json | jq -r '.items[] | select(.ready) | .url'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format := *printFlags.OutputFormat
			switch format {
			case "", "wide", "name":
			default:
				if _, err := printFlags.ToPrinter(); err != nil {
					return usageErrorf("unknown output format %q: use wide, name, json, yaml, "+
						"jsonpath=... or go-template=...", format)
				}
			}
			cfg, err := f.Config(cmd, nil)
			if err != nil {
				return err
			}
			items, err := listDesktops(cmd.Context(), f, cfg)
			if err != nil {
				return err
			}
			switch format {
			case "name":
				for _, it := range items {
					fmt.Fprintln(f.Streams.Out, it.Name)
				}
				return nil
			case "", "wide":
				return printDesktopTable(f, cfg, items, format == "wide", noHeaders)
			}
			p, err := printFlags.ToPrinter()
			if err != nil {
				return &UsageError{Err: err}
			}
			return p.PrintObj(desktop.NewList(items), f.Streams.Out)
		},
	}
	printFlags.AddFlags(cmd)
	cmd.Flags().BoolVar(&noHeaders, "no-headers", false, "Print the table without its header")
	return cmd
}

// listDesktops reads the set's desktops with a constant number of calls.
func listDesktops(ctx context.Context, f *Factory, cfg *config.Config) ([]desktop.Item, error) {
	client, _, err := f.Kube()
	if err != nil {
		return nil, err
	}
	kb := kube.NewBackend(client, cfg, kube.Options{})
	obs, err := kb.Observe(ctx)
	if err != nil {
		return nil, unreachable(err)
	}
	items, err := kube.Inventory(cfg, obs, kb.Users(obs))
	if err != nil {
		return nil, err
	}
	if err := f.accessStatus(ctx, cfg, kb, items); err != nil {
		return nil, err
	}
	return items, nil
}

func printDesktopTable(f *Factory, cfg *config.Config, items []desktop.Item, wide, noHeaders bool) error {
	header := []string{"NAME", "URL", "STATUS", "READY", "USER", "NODE", "AGE"}
	if cfg.Cloudflare.Enabled {
		header = append(header, "ACCESS")
	}
	if wide {
		header = append(header, "POD", "IP", "GROUP", "ADDRESS")
	}
	tty := output.IsTerminal(f.Streams.Out)
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		ready := "0/1"
		if it.Ready {
			ready = "1/1"
		}
		row := []string{it.Name, it.URL, it.Status, ready, orNone(strings.Join(it.Users, ",")),
			orNone(it.Node), age(it.Created, tty)}
		if cfg.Cloudflare.Enabled {
			row = append(row, orNone(it.Access))
		}
		if wide {
			row = append(row, it.Pod, orNone(it.PodIP), orNone(it.Group), orNone(it.Address))
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 && !noHeaders {
		_, err := fmt.Fprintf(f.Streams.ErrOut, "No desktops in set %s (namespace %s).\n",
			cfg.Name, cfg.Namespace)
		return err
	}
	return output.Table(f.Streams.Out, header, rows, noHeaders)
}

// age is relative on a terminal (5m) and absolute elsewhere, so that
// captured output stays true.
func age(created string, tty bool) string {
	if created == "" {
		return "<none>"
	}
	if !tty {
		return created
	}
	t, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return created
	}
	return duration.HumanDuration(time.Since(t))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
