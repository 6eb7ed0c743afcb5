package cli

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/gateway"
	"github.com/deskctl/deskctl/internal/kube"
)

func newOpenCommand(f *Factory) *cobra.Command {
	var printURL, local bool
	cmd := &cobra.Command{
		Use:   "open DESKTOP",
		Short: "Open a desktop in the browser",
		Long: `Open a desktop in the default browser. DESKTOP is its name (pod3), its
ordinal (3) or its pod (desk-3).

--print-url prints the URL instead, as does a session without a display.
--local reaches the desktop through the Kubernetes API server instead of its
public host, for clusters without public exposure: it port-forwards to the
desktop's gateway and authenticates with the desktop's local-access secret,
until interrupted.`,
		Example: `  deskctl open pod3
  deskctl open 3 --print-url
  deskctl open pod3 --local`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("open needs one desktop, e.g. 'deskctl open pod3'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.Config(cmd, nil)
			if err != nil {
				return err
			}
			d, _, err := existingDesktop(cmd.Context(), f, cfg, args[0])
			if err != nil {
				return err
			}
			if local {
				return openLocal(cmd.Context(), f, cfg.Namespace, cfg.Name, d, printURL)
			}
			return f.show(d.URL(), printURL)
		},
	}
	cmd.Flags().BoolVar(&printURL, "print-url", false, "Print the URL instead of opening it")
	cmd.Flags().BoolVar(&local, "local", false,
		"Reach the desktop through a port-forward instead of its public host")
	return cmd
}

// openLocal port-forwards to the desktop's gateway and opens it with the
// local-access secret in the URL fragment, which never leaves the browser.
func openLocal(ctx context.Context, f *Factory, ns, set string, d desktop.Desktop, printURL bool) error {
	client, rc, err := f.Kube()
	if err != nil {
		return err
	}
	secret, err := client.CoreV1().Secrets(ns).Get(ctx, desktop.LocalAccessSecretName(set), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the local-access secret of %s: %w", d.Name, err)
	}
	token := secret.Data[d.Pod]
	if len(token) == 0 {
		return fmt.Errorf("desktop %s has no local-access secret: run 'deskctl up' to create it", d.Name)
	}

	fmt.Fprintf(f.Streams.ErrOut, "Forwarding to %s through the API server; press Ctrl-C to stop.\n", d.Pod)
	var showErr error
	err = kube.PortForward(ctx, rc, ns, d.Pod, desktop.GatewayPort, func(port int) {
		showErr = f.show(gateway.LocalURL(port, string(token)), printURL)
	}, f.Streams.ErrOut)
	if showErr != nil {
		return showErr
	}
	return err
}

// show opens a URL in the browser, or prints it with --print-url or when
// there is no display to open it on.
func (f *Factory) show(u string, printOnly bool) error {
	if printOnly || !f.hasDisplay() {
		_, err := fmt.Fprintln(f.Streams.Out, u)
		return err
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(f.Streams.ErrOut, "could not start a browser (%v); open this URL:\n", err)
		_, err := fmt.Fprintln(f.Streams.Out, u)
		return err
	}
	fmt.Fprintf(f.Streams.ErrOut, "Opening %s\n", strings.SplitN(u, "#", 2)[0])
	return cmd.Process.Release()
}

func (f *Factory) hasDisplay() bool {
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return f.Getenv("DISPLAY") != "" || f.Getenv("WAYLAND_DISPLAY") != ""
}

// existingDesktop resolves a user's reference to a desktop of the set and
// checks that the set has it. It returns the set's current size too.
func existingDesktop(ctx context.Context, f *Factory, cfg *config.Config, ref string) (
	desktop.Desktop, int, error) {
	set := cfg.Set()
	n, err := set.Resolve(ref)
	if err != nil {
		return desktop.Desktop{}, 0, &UsageError{Err: err}
	}
	d, err := set.Desktop(n)
	if err != nil {
		return desktop.Desktop{}, 0, &UsageError{Err: err}
	}
	client, _, err := f.Kube()
	if err != nil {
		return desktop.Desktop{}, 0, err
	}
	replicas, ok, err := kube.CurrentReplicas(ctx, client, cfg.Namespace, cfg.Name)
	if err != nil {
		return desktop.Desktop{}, 0, unreachable(err)
	}
	if !ok || n > replicas {
		return desktop.Desktop{}, 0, usageErrorf(
			"desktop %s does not exist in set %s: 'deskctl ls' lists them", d.Name, cfg.Name)
	}
	return d, replicas, nil
}
