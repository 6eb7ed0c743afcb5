package cli

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/time/rate"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/deskctl/deskctl/internal/config"
)

// Client-side rate limits toward the API server. client-go's defaults (5
// per second, bursts of 10) would make scaling to 100 desktops take 40 s.
const (
	kubeQPS   = 200
	kubeBurst = 400
)

// Factory builds what commands need, lazily: constructing a command does no
// I/O, and tests swap any piece.
type Factory struct {
	Streams genericiooptions.IOStreams
	// Getenv reads the environment; tests replace it.
	Getenv func(string) string

	kubeFlags  *genericclioptions.ConfigFlags
	configFile string
	verbosity  int

	cfLimiter *rate.Limiter

	once       sync.Once
	restConfig *rest.Config
	client     kubernetes.Interface
	clientErr  error
}

// NewFactory returns a factory on the given streams.
func NewFactory(streams genericiooptions.IOStreams) *Factory {
	return &Factory{
		Streams:   streams,
		Getenv:    os.Getenv,
		kubeFlags: genericclioptions.NewConfigFlags(true),
	}
}

// AddFlags adds the global flags: kubectl's connection flags, --config and
// -v.
func (f *Factory) AddFlags(flags *pflag.FlagSet) {
	f.kubeFlags.AddFlags(flags)
	flags.StringVar(&f.configFile, "config", "",
		"Config file (default ./deskctl.yaml, then $XDG_CONFIG_HOME/deskctl/config.yaml)")
	flags.IntVarP(&f.verbosity, "verbosity", "v", 0,
		"Log detail on stderr: 0 warnings, 1 each change applied, 2 API retries and requests")
}

// Logger is the structured logger on stderr at the chosen verbosity.
func (f *Factory) Logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case f.verbosity >= 2:
		level = slog.LevelDebug
	case f.verbosity == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(f.Streams.ErrOut, &slog.HandlerOptions{Level: level}))
}

// Config loads and validates the configuration. keys maps config keys to
// the command's flags that set them.
func (f *Factory) Config(cmd *cobra.Command, keys map[string]string) (*config.Config, error) {
	flags := map[string]*pflag.Flag{}
	for key, name := range keys {
		flags[key] = cmd.Flags().Lookup(name)
	}
	// -n beats the namespace key.
	flags["namespace"] = cmd.Flags().Lookup("namespace")

	cfg, _, err := config.Load(config.Options{File: f.configFile, Flags: flags, Getenv: f.Getenv})
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ConfigUnvalidated loads the configuration without validating its values,
// for config view.
func (f *Factory) ConfigUnvalidated() (*config.Config, string, error) {
	return config.Load(config.Options{File: f.configFile, Getenv: f.Getenv})
}

// Kube returns the Kubernetes client and its REST config, built once.
func (f *Factory) Kube() (kubernetes.Interface, *rest.Config, error) {
	f.once.Do(func() {
		rc, err := f.kubeFlags.ToRESTConfig()
		if err != nil {
			f.clientErr = fmt.Errorf("no usable Kubernetes configuration: %w "+
				"(set --kubeconfig or KUBECONFIG)", err)
			return
		}
		rc.QPS, rc.Burst = kubeQPS, kubeBurst
		rc.UserAgent = "deskctl"
		f.restConfig = rc
		f.client, f.clientErr = kubernetes.NewForConfig(rc)
	})
	return f.client, f.restConfig, f.clientErr
}
