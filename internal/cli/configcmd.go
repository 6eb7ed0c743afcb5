package cli

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/deskctl/deskctl/internal/config"
)

//go:embed starter.yaml
var starterConfig []byte

func newConfigCommand(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Write a starter config file, or show the effective configuration",
	}
	cmd.AddCommand(newConfigInitCommand(f), newConfigViewCommand(f))
	return cmd
}

func newConfigInitCommand(f *Factory) *cobra.Command {
	var force bool
	return &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented starter config file (default ./deskctl.yaml)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("config init takes at most one file name")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path := config.FileName
			if len(args) == 1 {
				path = args[0]
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			file, err := os.OpenFile(path, flags, 0o644)
			if errors.Is(err, fs.ErrExist) {
				return usageErrorf("%s exists: pass --force to overwrite it", path)
			}
			if err != nil {
				return err
			}
			if _, err := file.Write(starterConfig); err != nil {
				file.Close()
				return err
			}
			if err := file.Close(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(f.Streams.ErrOut, "Wrote %s: set domain, then run 'deskctl up'.\n", path)
			return err
		},
	}
}

func newConfigViewCommand(f *Factory) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Print the effective configuration, secrets redacted",
		Long: `Print the configuration deskctl would use: defaults, then the config file,
then DESKCTL_* variables, then flags. The Cloudflare API token is redacted.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, file, err := f.ConfigUnvalidated()
			if err != nil {
				return err
			}
			if ns := cmd.Flags().Lookup("namespace"); ns != nil && ns.Changed {
				cfg.Namespace = ns.Value.String()
			}
			data, err := json.Marshal(cfg)
			if err != nil {
				return err
			}
			var view map[string]any
			if err := json.Unmarshal(data, &view); err != nil {
				return err
			}
			if cf, ok := view["cloudflare"].(map[string]any); ok {
				cf["apiToken"] = "<unset>"
				if cfg.Cloudflare.APIToken != "" {
					cf["apiToken"] = "<redacted>"
				}
				if a, ok := cf["access"].(map[string]any); ok {
					a["sessionDuration"] = cfg.Cloudflare.Access.SessionDuration.String()
				}
			}
			if file != "" {
				fmt.Fprintf(f.Streams.ErrOut, "# from %s\n", file)
			}
			switch output {
			case "json":
				return writeJSON(f.Streams.Out, view)
			case "", "yaml":
				out, err := yaml.Marshal(view)
				if err != nil {
					return err
				}
				_, err = f.Streams.Out.Write(out)
				return err
			}
			return usageErrorf("unknown output format %q: use yaml or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "Output format: yaml or json")
	return cmd
}
