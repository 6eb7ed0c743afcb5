// Package plan is deskctl's engine: every backend observes what exists and
// returns the steps that reach the desired state; the plan orders the steps
// of all backends, prints them, and applies them on a bounded worker pool.
package plan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Action is what a change does to one object.
type Action string

// Actions of a change.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Stages order steps across backends: all steps of a lower stage finish
// before any step of a higher one starts. Backends choose among these.
const (
	// StageNamespace creates the namespace everything else lives in.
	StageNamespace = 5
	// StageSet holds set-wide cluster objects: namespace, account, policy.
	StageSet = 10
	// StageUnpublish withdraws desktops from the outside (DNS, Access)
	// before their cluster objects go away.
	StageUnpublish = 20
	// StageWorkload holds the StatefulSet and per-desktop cluster objects.
	StageWorkload = 30
	// StageScale resizes the StatefulSet once the per-desktop objects are
	// written, so its controller's pods and claims do not compete with
	// them, and a scale-down shrinks it after their Services are gone.
	StageScale = 35
	// StagePublish creates DNS records, Access applications and tunnel routes
	// once the cluster side exists.
	StagePublish = 40
	// StageGatewayConfig writes what the gateways need to know about the
	// published objects (Access audiences).
	StageGatewayConfig = 50
	// StageCleanup removes what nothing points at any more.
	StageCleanup = 60
)

// Change describes what a step does to one object. It is what --dry-run
// prints and what the plan counts.
type Change struct {
	// Backend that owns the object: kubernetes, cloudflare.
	Backend string `json:"backend"`
	// Kind of object: Service, Ingress, DNSRecord, AccessApplication.
	Kind string `json:"kind"`
	// Name of the object.
	Name string `json:"name"`
	// Desktop the object belongs to, empty for set-wide objects.
	Desktop string `json:"desktop,omitempty"`
	// Action is create, update or delete.
	Action Action `json:"action"`
	// Detail says in a few words what differs, for updates.
	Detail string `json:"detail,omitempty"`
	// Object is the full desired object, for -o yaml; nil for deletes.
	Object any `json:"-"`
}

// String is the one-line form of a change: "create Service desktops/desk-3".
func (c Change) String() string {
	s := fmt.Sprintf("%s %s %s", c.Action, c.Kind, c.Name)
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

// Step is one unit of work: one API call or one batch of them. A batch step
// carries a change for each object it touches.
type Step struct {
	// Stage orders steps; see the Stage constants.
	Stage int
	// Desktop names the desktop a failure should be reported against.
	Desktop string
	// Changes the step makes.
	Changes []Change
	// Run performs the step.
	Run func(ctx context.Context) error
}

// Backend is one system deskctl manages: the cluster, Cloudflare.
type Backend interface {
	// Name identifies the backend in plans and errors.
	Name() string
	// Plan observes the backend with a constant number of list calls and
	// returns the steps that bring it to the desired state. It writes
	// nothing.
	Plan(ctx context.Context) ([]Step, error)
}

// Plan is the ordered work of one command across all backends.
type Plan struct {
	Steps []Step
}

// Build asks every backend for its steps. No backend writes anything, so a
// failure here leaves everything unchanged.
func Build(ctx context.Context, backends ...Backend) (*Plan, error) {
	p := &Plan{}
	for _, b := range backends {
		steps, err := b.Plan(ctx)
		if err != nil {
			return nil, fmt.Errorf("planning %s: %w", b.Name(), err)
		}
		p.Steps = append(p.Steps, steps...)
	}
	sort.SliceStable(p.Steps, func(i, j int) bool { return p.Steps[i].Stage < p.Steps[j].Stage })
	return p, nil
}

// Changes lists every change of the plan in order.
func (p *Plan) Changes() []Change {
	var out []Change
	for _, s := range p.Steps {
		out = append(out, s.Changes...)
	}
	return out
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes()) == 0 }

// StepError is a failed step, naming the desktop it was for.
type StepError struct {
	Desktop string
	Change  Change
	Err     error
}

func (e *StepError) Error() string {
	if e.Desktop != "" {
		return fmt.Sprintf("desktop %s: %s: %v", e.Desktop, e.Change, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Change, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Workers bounds how many steps run at once; 0 means 16.
	Workers int
	// Done, when set, is called after each step with its outcome. It is
	// called from one goroutine at a time.
	Done func(s Step, err error)
}

// Apply runs the plan stage by stage. Steps of one stage run concurrently on
// a bounded pool. When a step fails, the steps of its stage that already
// started finish, no later stage starts, and the errors are returned joined.
func (p *Plan) Apply(ctx context.Context, opts ApplyOptions) error {
	workers := opts.Workers
	if workers <= 0 {
		workers = 16
	}
	for start := 0; start < len(p.Steps); {
		end := start
		for end < len(p.Steps) && p.Steps[end].Stage == p.Steps[start].Stage {
			end++
		}
		if err := runStage(ctx, p.Steps[start:end], workers, opts.Done); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func runStage(ctx context.Context, steps []Step, workers int, done func(Step, error)) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, workers)
	)
	for _, s := range steps {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(s Step) {
			defer func() { <-sem; wg.Done() }()
			err := s.Run(ctx)
			if err != nil {
				var first Change
				if len(s.Changes) > 0 {
					first = s.Changes[0]
				}
				err = &StepError{Desktop: s.Desktop, Change: first, Err: err}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if done != nil {
				done(s, err)
			}
		}(s)
	}
	wg.Wait()
	if len(errs) == 0 && ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}
