package cloudflare

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
)

// Access states of a desktop, for the ACCESS column of ls.
const (
	// StatusOK: the record and the application are as planned.
	StatusOK = "ok"
	// StatusMissing: the record or the application does not exist.
	StatusMissing = "missing"
	// StatusDrift: they exist but differ from the plan.
	StatusDrift = "drift"
	// StatusWaiting: the desktop's load balancer has no address yet, so
	// it has no DNS record.
	StatusWaiting = "waiting"
)

// Status reports, for each desktop, whether Cloudflare matches the plan. It
// reads with the same constant number of list calls as Plan.
func (b *Backend) Status(ctx context.Context, desktops []desktop.Desktop) (map[string]string, error) {
	o, err := b.observe(ctx)
	if err != nil {
		return nil, err
	}
	run := *b
	run.opts.Teardown = false
	run.opts.Desktops = desktops
	w := run.desired(o)

	policyIDs := map[string]string{}
	for name, p := range o.policies {
		policyIDs[name] = p.ID
	}
	driftedPolicy := map[string]bool{}
	for name, spec := range w.policies {
		p, ok := o.policies[name]
		driftedPolicy[name] = !ok || p.Decision != "allow" || !sameRules(spec.include, p.Include)
	}
	waiting := map[string]bool{}
	for _, name := range w.waiting {
		waiting[name] = true
	}

	out := map[string]string{}
	for _, d := range desktops {
		out[d.Name] = b.desktopStatus(o, w, d, policyIDs, driftedPolicy, waiting[d.Name])
	}
	return out, nil
}

func (b *Backend) desktopStatus(o *observed, w *want, d desktop.Desktop, policyIDs map[string]string,
	driftedPolicy map[string]bool, waiting bool) string {
	app := w.apps[w.appOf[d.Name]]
	apps := o.apps[app.name]
	if len(apps) == 0 {
		return StatusMissing
	}
	status := StatusOK
	if len(apps) > 1 || b.appDrift(apps[0], app, policyIDs) != "" {
		status = StatusDrift
	}
	for _, l := range app.links {
		if driftedPolicy[l.policy] {
			status = StatusDrift
		}
	}
	if b.cfg.Expose.Mode == config.ExposeNone {
		return status
	}

	rec, ok := o.records[d.Host]
	want, wanted := w.content[d.Host]
	switch {
	case waiting && !ok:
		return StatusWaiting
	case !ok:
		return StatusMissing
	case wanted && (want == "" || !strings.EqualFold(rec.Content, want) || !rec.Proxied ||
		rec.Type != "CNAME"):
		return StatusDrift
	}
	return status
}

func intOrString(port int) intstr.IntOrString { return intstr.FromInt32(int32(port)) }
