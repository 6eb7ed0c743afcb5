package plan

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type stepsBackend struct {
	name  string
	steps []Step
	err   error
}

func (b stepsBackend) Name() string                         { return b.name }
func (b stepsBackend) Plan(context.Context) ([]Step, error) { return b.steps, b.err }

func step(stage int, desk string, run func(context.Context) error) Step {
	return Step{Stage: stage, Desktop: desk, Run: run,
		Changes: []Change{{Kind: "Service", Name: desk, Desktop: desk, Action: Create}}}
}

func TestStagesRunInOrderAcrossBackends(t *testing.T) {
	var mu sync.Mutex
	var order []int
	record := func(stage int) func(context.Context) error {
		return func(context.Context) error {
			mu.Lock()
			order = append(order, stage)
			mu.Unlock()
			return nil
		}
	}
	a := stepsBackend{name: "a", steps: []Step{step(StagePublish, "x", record(StagePublish)),
		step(StageWorkload, "y", record(StageWorkload))}}
	b := stepsBackend{name: "b", steps: []Step{step(StageNamespace, "", record(StageNamespace)),
		step(StageGatewayConfig, "", record(StageGatewayConfig))}}
	p, err := Build(context.Background(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(context.Background(), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []int{StageNamespace, StageWorkload, StagePublish, StageGatewayConfig}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("ran stages %v, want %v", order, want)
		}
	}
}

func TestFailureStopsLaterStagesAndNamesTheDesktop(t *testing.T) {
	var later atomic.Bool
	ok := func(context.Context) error { return nil }
	b := stepsBackend{name: "a", steps: []Step{
		step(StageWorkload, "pod1", ok),
		step(StageWorkload, "pod2", func(context.Context) error { return errors.New("boom") }),
		step(StagePublish, "pod3", func(context.Context) error { later.Store(true); return nil }),
	}}
	p, _ := Build(context.Background(), b)
	err := p.Apply(context.Background(), ApplyOptions{})
	var se *StepError
	if !errors.As(err, &se) || se.Desktop != "pod2" || !strings.Contains(err.Error(), "desktop pod2") {
		t.Fatalf("error %v does not name pod2", err)
	}
	if later.Load() {
		t.Fatal("a later stage ran after a failure")
	}
}

func TestApplyBoundsConcurrency(t *testing.T) {
	var cur, peak atomic.Int32
	run := func(context.Context) error {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		cur.Add(-1)
		return nil
	}
	var steps []Step
	for range 50 {
		steps = append(steps, step(StageWorkload, "d", run))
	}
	p, _ := Build(context.Background(), stepsBackend{name: "a", steps: steps})
	done := 0
	err := p.Apply(context.Background(), ApplyOptions{Workers: 4, Done: func(Step, error) { done++ }})
	if err != nil {
		t.Fatal(err)
	}
	if peak.Load() > 4 || peak.Load() < 2 {
		t.Fatalf("peak concurrency %d with 4 workers", peak.Load())
	}
	if done != 50 {
		t.Fatalf("Done heard %d steps, want 50", done)
	}
}

func TestBuildFailsWithoutWriting(t *testing.T) {
	var ran atomic.Bool
	good := stepsBackend{name: "good", steps: []Step{step(StageSet, "", func(context.Context) error {
		ran.Store(true)
		return nil
	})}}
	bad := stepsBackend{name: "cloud", err: errors.New("limit")}
	if _, err := Build(context.Background(), good, bad); err == nil || !strings.Contains(err.Error(), "planning cloud") {
		t.Fatalf("Build = %v", err)
	}
	if ran.Load() {
		t.Fatal("a step ran while planning")
	}
}
