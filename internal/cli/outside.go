package cli

import (
	"context"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/kube"
	"github.com/deskctl/deskctl/internal/plan"
)

// outsideBackends returns the backends beyond the cluster: Cloudflare when
// it is enabled.
func (f *Factory) outsideBackends(ctx context.Context, cfg *config.Config, kb *kube.Backend,
	o changeOptions) ([]plan.Backend, error) {
	if !cfg.Cloudflare.Enabled {
		return nil, nil
	}
	return nil, usageErrorf("cloudflare.enabled: the Cloudflare backend is not wired in yet")
}

// accessStatus fills the ACCESS column from Cloudflare when it is enabled.
func (f *Factory) accessStatus(ctx context.Context, cfg *config.Config, kb *kube.Backend,
	items []desktop.Item) error {
	return nil
}
