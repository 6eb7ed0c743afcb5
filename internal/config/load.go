package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"sigs.k8s.io/yaml"
)

// FileName is the config file deskctl looks for in the working directory.
const FileName = "deskctl.yaml"

// EnvPrefix starts every environment variable deskctl reads.
const EnvPrefix = "DESKCTL"

// Error is a configuration problem. It names the key at fault where there
// is one. Commands exit with code 2 on it.
type Error struct {
	Key string
	Err error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return e.Err.Error()
	}
	return e.Key + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode marks configuration errors as usage errors.
func (e *Error) ExitCode() int { return 2 }

func errorf(key, format string, args ...any) error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

// defaults are every key deskctl knows, with its default. A key missing
// here is unknown: environment variables for it are ignored and a config
// file that sets it is refused.
var defaults = map[string]any{
	"name":                              "desk",
	"namespace":                         "desktops",
	"domain":                            "",
	"hostPattern":                       "pod{{.Ordinal}}",
	"image":                             "ghcr.io/deskctl/desktop:latest",
	"replicas":                          1,
	"maxReplicas":                       500,
	"resources.requests.cpu":            "500m",
	"resources.requests.memory":         "1Gi",
	"resources.limits.cpu":              "2",
	"resources.limits.memory":           "4Gi",
	"home.size":                         "10Gi",
	"home.storageClass":                 "",
	"expose.mode":                       ExposeALB,
	"expose.ingressClass":               "alb",
	"expose.alb.certificateARN":         "",
	"expose.alb.maxDesktopsPerGroup":    50,
	"expose.alb.idleTimeoutSeconds":     3600,
	"expose.alb.groupPrefix":            "",
	"cloudflare.enabled":                false,
	"cloudflare.accountID":              "",
	"cloudflare.zone":                   "",
	"cloudflare.zoneID":                 "",
	"cloudflare.teamDomain":             "",
	"cloudflare.apiTokenFile":           "",
	"cloudflare.access.mode":            AccessPerDesktop,
	"cloudflare.access.sessionDuration": "24h",
	"cloudflare.allow.emails":           []string{},
	"cloudflare.allow.emailDomains":     []string{},
	"cloudflare.allow.groups":           []string{},
	"cloudflare.tunnel.name":            "",
	"cloudflare.tunnel.image":           "cloudflare/cloudflared:2025.11.1",
}

// keysWithoutDefault are known keys whose absence means something.
var keysWithoutDefault = []string{"expose.alb.restrictToCloudflare"}

// Options say where Load looks.
type Options struct {
	// File is --config; empty means search ./deskctl.yaml, then
	// $XDG_CONFIG_HOME/deskctl/config.yaml.
	File string
	// Flags maps config keys to the command-line flags that set them. Only
	// flags the user changed take effect.
	Flags map[string]*pflag.Flag
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// Load reads the configuration from defaults, the file, the environment and
// flags, in increasing precedence, and validates its values. It returns
// the path of the file it read ("" when none).
func Load(opts Options) (*Config, string, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}

	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}

	file, err := findFile(opts.File, getenv)
	if err != nil {
		return nil, "", err
	}
	if file != "" {
		if err := readFile(v, file); err != nil {
			return nil, "", err
		}
	}

	// Environment: DESKCTL_EXPOSE_ALB_MAXDESKTOPSPERGROUP and so on.
	for _, k := range allKeys() {
		name := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
		if val := getenv(name); val != "" {
			v.Set(k, envValue(k, val))
		}
	}

	// Flags beat everything, then the environment: both are set as
	// overrides, the flags last.
	for k, f := range opts.Flags {
		if f != nil && f.Changed {
			v.Set(k, f.Value.String())
		}
	}

	cfg := &Config{}
	dec := &mapstructure.DecoderConfig{
		Result:           cfg,
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
	}
	d, err := mapstructure.NewDecoder(dec)
	if err != nil {
		return nil, "", err
	}
	if err := d.Decode(v.AllSettings()); err != nil {
		return nil, "", &Error{Err: fmt.Errorf("%s: %w", describeFile(file), cleanDecodeError(err))}
	}

	cfg.ReplicasGiven = v.InConfig("replicas") || getenv(EnvPrefix+"_REPLICAS") != "" ||
		(opts.Flags["replicas"] != nil && opts.Flags["replicas"].Changed)

	if err := cfg.readToken(getenv); err != nil {
		return nil, "", err
	}
	return cfg, file, nil
}

// envValue turns an environment string into what the key expects. Viper
// keeps the environment's strings; the decoder converts scalars, and lists
// are comma-separated.
func envValue(key, val string) any {
	if _, ok := defaults[key].([]string); ok {
		return strings.Split(val, ",")
	}
	return val
}

func allKeys() []string {
	keys := make([]string, 0, len(defaults)+len(keysWithoutDefault))
	for k := range defaults {
		keys = append(keys, k)
	}
	return append(keys, keysWithoutDefault...)
}

func findFile(explicit string, getenv func(string) string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", errorf("config", "cannot read config file %s: %v", explicit, errors.Unwrap(err))
		}
		return explicit, nil
	}
	candidates := []string{FileName}
	if xdg := getenv("XDG_CONFIG_HOME"); xdg != "" {
		candidates = append(candidates, filepath.Join(xdg, "deskctl", "config.yaml"))
	} else if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".config", "deskctl", "config.yaml"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", nil
}

func readFile(v *viper.Viper, file string) error {
	f := viper.New()
	f.SetConfigFile(file)
	f.SetConfigType("yaml")
	if err := f.ReadInConfig(); err != nil {
		return errorf("config", "%s is not valid YAML: %v", file, err)
	}

	// Every key in the file must be one deskctl knows.
	raw, err := os.ReadFile(file)
	if err != nil {
		return errorf("config", "cannot read %s: %v", file, err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		return errorf("config", "%s is not valid YAML: %v", file, err)
	}
	if key := unknownKey(tree, ""); key != "" {
		return errorf(key, "unknown key in %s: see 'deskctl config init' for the keys deskctl reads", file)
	}
	if err := v.MergeConfigMap(f.AllSettings()); err != nil {
		return errorf("config", "%s: %v", file, err)
	}
	return nil
}

// unknownKey returns the first key of a parsed file, with its path, that
// deskctl does not read; empty maps count too.
func unknownKey(m map[string]any, prefix string) string {
	known := map[string]bool{}
	for _, k := range allKeys() {
		k = strings.ToLower(k)
		for i := range k {
			if k[i] == '.' {
				known[k[:i]] = true
			}
		}
		known[k] = true
	}
	var walk func(m map[string]any, prefix string) string
	walk = func(m map[string]any, prefix string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			path := prefix + strings.ToLower(k)
			if underMapKey(path) {
				continue
			}
			if !known[path] {
				return path
			}
			if sub, ok := m[k].(map[string]any); ok {
				if bad := walk(sub, path+"."); bad != "" {
					return bad
				}
			}
		}
		return ""
	}
	return walk(m, prefix)
}

// underMapKey reports whether k lies under a key whose value is a free map
// (resources.requests.<name>).
func underMapKey(k string) bool {
	return strings.HasPrefix(k, "resources.requests.") || strings.HasPrefix(k, "resources.limits.")
}

func describeFile(file string) string {
	if file == "" {
		return "configuration"
	}
	return file
}

func cleanDecodeError(err error) error {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "decoding failed due to the following error(s):\n\n", "")
	return errors.New(strings.TrimSpace(msg))
}

func (c *Config) readToken(getenv func(string) string) error {
	c.Cloudflare.APIToken = strings.TrimSpace(getenv("CLOUDFLARE_API_TOKEN"))
	if c.Cloudflare.APIToken != "" || c.Cloudflare.APITokenFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.Cloudflare.APITokenFile)
	if err != nil {
		return errorf("cloudflare.apiTokenFile", "cannot read the API token: %v", errors.Unwrap(err))
	}
	c.Cloudflare.APIToken = strings.TrimSpace(string(b))
	return nil
}
