package cli

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/deskctl/deskctl/internal/cloudflare"
	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/kube"
	"github.com/deskctl/deskctl/internal/plan"
)

// cloudflareOptions are the options every Cloudflare call of this run
// shares: one rate limiter, one logger. The SDK reads CLOUDFLARE_BASE_URL.
func (f *Factory) cloudflareOptions() cloudflare.Options {
	if f.cfLimiter == nil {
		f.cfLimiter = cloudflare.NewLimiter()
	}
	return cloudflare.Options{Logger: f.Logger(), Limiter: f.cfLimiter}
}

// inboundCIDRs returns the ranges every ALB admits: Cloudflare's, when the
// origin lock is on, else none.
func (f *Factory) inboundCIDRs(ctx context.Context, cfg *config.Config) ([]string, error) {
	if cfg.Expose.Mode != config.ExposeALB || !cfg.RestrictToCloudflare() {
		return nil, nil
	}
	return cloudflare.IPRanges(ctx, f.cloudflareOptions())
}

// outsideBackends returns the backends beyond the cluster: Cloudflare when
// it is enabled.
func (f *Factory) outsideBackends(_ context.Context, cfg *config.Config, kb *kube.Backend,
	o changeOptions) ([]plan.Backend, error) {
	if !cfg.Cloudflare.Enabled {
		return nil, nil
	}
	var desktops []desktop.Desktop
	if !o.Teardown {
		var err error
		if desktops, err = cfg.Set().Desktops(o.Replicas); err != nil {
			return nil, err
		}
	}
	opts := f.cloudflareOptions()
	opts.Desktops, opts.Teardown = desktops, o.Teardown
	cb, err := cloudflare.New(cfg, kb, opts)
	if err != nil {
		return nil, err
	}
	return []plan.Backend{cb}, nil
}

// accessStatus fills the ACCESS column from Cloudflare when it is enabled.
func (f *Factory) accessStatus(ctx context.Context, cfg *config.Config, kb *kube.Backend,
	items []desktop.Item) error {
	if !cfg.Cloudflare.Enabled || len(items) == 0 {
		return nil
	}
	cb, err := cloudflare.New(cfg, kb, f.cloudflareOptions())
	if err != nil {
		return err
	}
	desktops := make([]desktop.Desktop, 0, len(items))
	for _, it := range items {
		d, err := cfg.Set().Desktop(it.Ordinal)
		if err != nil {
			return err
		}
		desktops = append(desktops, d)
	}
	status, err := cb.Status(ctx, desktops)
	if err != nil {
		return err
	}
	for i := range items {
		items[i].Access = status[items[i].Name]
	}
	return nil
}

// waitPublished waits until every desktop's ALB group has an address, then
// plans and applies again so that Cloudflare's records point at it. Only
// alb mode with Cloudflare waits: elsewhere nothing is published late.
func waitPublished(ctx context.Context, f *Factory, cfg *config.Config, backends []plan.Backend,
	kb *kube.Backend, n int) error {
	if !cfg.Cloudflare.Enabled || cfg.Expose.Mode != config.ExposeALB || n == 0 {
		return nil
	}
	groups := cfg.Set().Groups(n)
	var missing []string
	err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		kb.Refresh()
		obs, err := kb.Observe(ctx)
		if err != nil {
			return false, err
		}
		lbs := kube.LoadBalancers(obs)
		missing = missing[:0]
		for _, g := range groups {
			if lbs[g] == "" {
				missing = append(missing, g)
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for load balancer addresses of %v: %w", missing, err)
	}

	refresh(backends)
	p, err := plan.Build(ctx, backends...)
	if err != nil {
		return err
	}
	return apply(ctx, f, p)
}
