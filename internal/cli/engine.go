package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/yaml"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/kube"
	"github.com/deskctl/deskctl/internal/output"
	"github.com/deskctl/deskctl/internal/plan"
)

// changeOptions are what a mutating command asks of the engine.
type changeOptions struct {
	Replicas int
	// KeepReplicas keeps the count an existing set has (up without an
	// explicit replicas).
	KeepReplicas  bool
	Teardown      bool
	DeleteVolumes bool
	Users         map[string][]string

	DryRun   bool
	Output   string
	Wait     bool
	WaitLock bool
	Timeout  time.Duration
}

// result is what a mutating command prints on stdout.
type result struct {
	Set      string        `json:"set"`
	Replicas int           `json:"replicas"`
	DryRun   bool          `json:"dryRun"`
	Changes  []plan.Change `json:"changes"`
}

// converge runs one pass of the engine: plan every backend, then print or
// apply the plan under the set's lock.
func converge(ctx context.Context, f *Factory, cfg *config.Config, o changeOptions) error {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	client, _, err := f.Kube()
	if err != nil {
		return err
	}
	log := f.Logger()

	if o.KeepReplicas {
		if n, ok, err := kube.CurrentReplicas(ctx, client, cfg.Namespace, cfg.Name); err != nil {
			return unreachable(err)
		} else if ok {
			o.Replicas = n
		}
	}

	backends, kb, err := f.backends(ctx, cfg, o)
	if err != nil {
		return err
	}
	p, err := plan.Build(ctx, backends...)
	if err != nil {
		return unreachable(err)
	}

	if o.DryRun {
		return printPlan(f.Streams.Out, cfg, o, p, kb)
	}
	if p.Empty() && !o.Wait {
		return printResult(f, cfg, o, p)
	}

	// The Lease lives in the set's namespace, so that must exist first.
	if err := ensureNamespace(ctx, p); err != nil {
		return err
	}
	lock, err := kube.AcquireLock(ctx, client, cfg.Namespace, cfg.Name, o.WaitLock)
	if err != nil {
		return err
	}
	defer func() {
		if err := lock.Release(context.WithoutCancel(ctx)); err != nil {
			log.Warn("could not release the lock", "err", err)
		}
	}()

	// Plan again under the lock: another run may have changed things.
	refresh(backends)
	p, err = plan.Build(ctx, backends...)
	if err != nil {
		return err
	}
	if err := apply(ctx, f, p); err != nil {
		return err
	}

	if o.Wait && !o.Teardown {
		if err := waitReady(ctx, f, cfg, o.Replicas); err != nil {
			return err
		}
		if err := waitPublished(ctx, f, cfg, backends, kb, o.Replicas); err != nil {
			return err
		}
	}
	return printResult(f, cfg, o, p)
}

// backends builds the backends of this run. The cluster backend comes
// first; Cloudflare joins when enabled.
func (f *Factory) backends(ctx context.Context, cfg *config.Config, o changeOptions) (
	[]plan.Backend, *kube.Backend, error) {
	client, _, err := f.Kube()
	if err != nil {
		return nil, nil, err
	}
	var cidrs []string
	if !o.Teardown {
		if cidrs, err = f.inboundCIDRs(ctx, cfg); err != nil {
			return nil, nil, err
		}
	}
	kb := kube.NewBackend(client, cfg, kube.Options{
		InboundCIDRs:       cidrs,
		Replicas:           o.Replicas,
		Teardown:           o.Teardown,
		DeleteVolumes:      o.DeleteVolumes,
		ManageAccessConfig: !cfg.Cloudflare.Enabled,
		Users:              o.Users,
		Logger:             f.Logger(),
	})
	backends := []plan.Backend{kb}
	extra, err := f.outsideBackends(ctx, cfg, kb, o)
	if err != nil {
		return nil, nil, err
	}
	return append(backends, extra...), kb, nil
}

// refresh makes every backend that caches its observation read again.
func refresh(backends []plan.Backend) {
	for _, b := range backends {
		if r, ok := b.(interface{ Refresh() }); ok {
			r.Refresh()
		}
	}
}

func ensureNamespace(ctx context.Context, p *plan.Plan) error {
	for _, s := range p.Steps {
		for _, c := range s.Changes {
			if c.Kind == "Namespace" && c.Action == plan.Create {
				return s.Run(ctx)
			}
		}
	}
	return nil
}

func apply(ctx context.Context, f *Factory, p *plan.Plan) error {
	total := len(p.Steps)
	progress := output.NewProgress(f.Streams.ErrOut, "applying")
	defer progress.Done()
	done := 0
	return p.Apply(ctx, plan.ApplyOptions{
		Done: func(plan.Step, error) {
			done++
			progress.Set(done, total)
		},
	})
}

func waitReady(ctx context.Context, f *Factory, cfg *config.Config, n int) error {
	client, _, err := f.Kube()
	if err != nil {
		return err
	}
	progress := output.NewProgress(f.Streams.ErrOut, "ready")
	defer progress.Done()
	return kube.WaitReady(ctx, client, cfg.Namespace, cfg.Set(), n, progress.Set)
}

// unreachable marks an error reaching the cluster as a runtime failure
// with a hint.
func unreachable(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	if strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host") {
		return fmt.Errorf("%w (is the cluster reachable? check --kubeconfig and --context)", err)
	}
	return err
}

func printResult(f *Factory, cfg *config.Config, o changeOptions, p *plan.Plan) error {
	r := result{Set: cfg.Name, Replicas: o.Replicas, DryRun: o.DryRun, Changes: p.Changes()}
	if r.Changes == nil {
		r.Changes = []plan.Change{}
	}
	switch o.Output {
	case "json":
		return writeJSON(f.Streams.Out, r)
	case "yaml":
		return writeYAML(f.Streams.Out, r)
	}
	verb := "applied"
	if o.DryRun {
		verb = "planned"
	}
	if len(r.Changes) == 0 {
		_, err := fmt.Fprintf(f.Streams.Out, "%s: no changes\n", cfg.Name)
		return err
	}
	_, err := fmt.Fprintf(f.Streams.Out, "%s: %s\n", cfg.Name, summary(r.Changes, verb))
	return err
}

// summary counts changes: "3 created, 1 updated, 0 deleted".
func summary(changes []plan.Change, verb string) string {
	n := map[plan.Action]int{}
	for _, c := range changes {
		n[c.Action]++
	}
	return fmt.Sprintf("%d changes %s (%d create, %d update, %d delete)",
		len(changes), verb, n[plan.Create], n[plan.Update], n[plan.Delete])
}

// printPlan prints what a dry run would do. With -o yaml it prints every
// desired cluster object as manifests that kubectl apply accepts.
func printPlan(w io.Writer, cfg *config.Config, o changeOptions, p *plan.Plan, kb *kube.Backend) error {
	switch o.Output {
	case "yaml":
		if o.Teardown {
			return writeYAML(w, result{Set: cfg.Name, DryRun: true, Changes: p.Changes()})
		}
		return printManifests(w, cfg, o, kb)
	case "json":
		return writeJSON(w, result{Set: cfg.Name, Replicas: o.Replicas, DryRun: true, Changes: nonNil(p.Changes())})
	case "", "table", "wide":
	default:
		return usageErrorf("unknown output format %q: use table, json or yaml", o.Output)
	}
	rows := [][]string{}
	for _, c := range p.Changes() {
		rows = append(rows, []string{string(c.Action), c.Kind, c.Name, c.Desktop, c.Backend, c.Detail})
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintf(w, "%s: no changes\n", cfg.Name)
		return err
	}
	if err := output.Table(w, []string{"ACTION", "KIND", "NAME", "DESKTOP", "BACKEND", "DETAIL"}, rows, false); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s: %s\n", cfg.Name, summary(p.Changes(), "planned"))
	return err
}

func nonNil(c []plan.Change) []plan.Change {
	if c == nil {
		return []plan.Change{}
	}
	return c
}

// printManifests writes the desired cluster objects as YAML documents. The
// Secret is left out: its values are generated at apply time and never
// printed.
func printManifests(w io.Writer, cfg *config.Config, o changeOptions, kb *kube.Backend) error {
	obs, err := kb.Observe(context.Background())
	if err != nil {
		return err
	}
	desktops, err := cfg.Set().Desktops(o.Replicas)
	if err != nil {
		return err
	}
	objs, err := kb.Desired(desktops, obs)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# deskctl %s: %d desktops. The Secrets %s and %s, with the desktops'\n"+
		"# generated VNC and local-access secrets, are made by deskctl up and not printed.\n",
		cfg.Name, len(desktops), desktop.SecretName(cfg.Name), desktop.LocalAccessSecretName(cfg.Name))
	for _, obj := range objs {
		if strings.HasSuffix(fmt.Sprintf("%T", obj.Object), ".Secret") {
			continue
		}
		data, err := yaml.Marshal(obj.Object)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "---\n%s", data); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func writeYAML(w io.Writer, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
