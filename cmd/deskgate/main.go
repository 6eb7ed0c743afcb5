// Command deskgate is the gateway of one deskctl desktop: it checks
// Cloudflare Access tokens, serves the noVNC page and relays the page's
// websocket to the VNC server on loopback. See docs/gateway.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/deskctl/deskctl/internal/gateway"
	"github.com/deskctl/deskctl/internal/version"
)

// envPrefix prefixes the environment variable that stands in for a flag:
// --team-domain is also read from DESKGATE_TEAM_DOMAIN.
const envPrefix = "DESKGATE_"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run executes deskgate and returns its exit code: 0 after a clean
// shutdown, 1 on a runtime failure, 2 on a usage error.
func run(args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd := newCommand(stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	var uerr usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "deskgate: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "deskgate: %v\n", err)
		return 1
	}
}

// usageError is a problem with the flags or environment.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// options are deskgate's flags.
type options struct {
	cfg       gateway.Config
	logLevel  string
	logFormat string
}

func newCommand(stderr io.Writer) *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "deskgate",
		Short: "Gateway of one deskctl desktop: Access check, noVNC page, VNC relay",
		Long: `deskgate is the only listener on a desktop pod's IP. It checks the
Cloudflare Access token on every request, serves the desktop page built on
noVNC, and relays its websocket to the VNC server on loopback, answering the
VNC password itself. Every flag can also be set as DESKGATE_<FLAG>, e.g.
DESKGATE_TEAM_DOMAIN; repeatable flags take comma-separated values there.`,
		Version:       version.Get().Version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return usageError{err}
			}
			return o.run(cmd.Context(), stderr)
		},
	}
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	f := cmd.Flags()
	c := &o.cfg
	f.StringVar(&c.Listen, "listen", gateway.DefaultListen, "address of the gateway listener")
	f.StringVar(&c.MetricsListen, "metrics-listen", gateway.DefaultMetricsListen,
		"address of the metrics listener; expose it to no Service or Ingress")
	f.StringVar(&c.VNCAddr, "vnc", gateway.DefaultVNCAddr, "address of the VNC server")
	f.StringVar(&c.VNCPasswordFile, "vnc-password-file", "",
		"file holding the plain VNC password; without it the VNC server must need none")
	f.StringVar(&c.TeamDomain, "team-domain", "",
		"Access team: a host such as myteam.cloudflareaccess.com, or a URL")
	f.StringSliceVar(&c.Audiences, "aud", nil, "Access application audience tag (repeatable)")
	f.StringSliceVar(&c.AllowEmails, "allow-email", nil,
		"when set, only these identities may connect (repeatable)")
	f.StringVar(&c.AccessConfigFile, "access-config", "",
		"access.json written by deskctl, re-read when it changes; needs --desktop")
	f.StringVar(&c.Desktop, "desktop", "", "this desktop's name, e.g. desk-3")
	f.StringVar(&c.LocalSecretFile, "local-secret-file", "",
		"file holding the local-access secret of deskctl open --local; empty disables it")
	f.DurationVar(&c.LocalCookieTTL, "local-cookie-ttl", gateway.DefaultLocalCookieTTL,
		"lifetime of the cookie the local-access secret is exchanged for")
	f.StringVar(&c.NoVNCDir, "novnc-dir", gateway.DefaultNoVNCDir, "directory of noVNC's files")
	f.DurationVar(&c.Keepalive, "keepalive", gateway.DefaultKeepalive,
		"interval of websocket pings on every session")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "json", "log format: json or text")
	return cmd
}

// applyEnv sets every flag not given on the command line from its
// DESKGATE_<FLAG> variable.
func applyEnv(f *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	f.VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Changed {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := lookup(name); ok {
			if serr := f.Set(fl.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	return err
}

func (o *options) run(ctx context.Context, stderr io.Writer) error {
	logger, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return usageError{err}
	}
	o.cfg.Logger = logger
	srv, err := gateway.New(o.cfg)
	if err != nil {
		return usageError{err}
	}
	return srv.Run(ctx)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}
