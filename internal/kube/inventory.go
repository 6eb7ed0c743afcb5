package kube

import (
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
)

// Inventory lists the desktops of a set from one observation: every
// desktop the StatefulSet wants, and any whose Service still exists.
func Inventory(cfg *config.Config, o *Observed, users map[string][]string) ([]desktop.Item, error) {
	set := cfg.Set()
	count := 0
	if o.StatefulSet != nil && o.StatefulSet.Spec.Replicas != nil {
		count = int(*o.StatefulSet.Spec.Replicas)
	}
	ordinals := map[int]bool{}
	for i := 1; i <= count; i++ {
		ordinals[i] = true
	}
	for _, svc := range o.Services {
		if n, err := strconv.Atoi(svc.Labels[desktop.LabelOrdinal]); err == nil && n > 0 {
			ordinals[n] = true
		}
	}
	lbs := LoadBalancers(o)

	items := make([]desktop.Item, 0, len(ordinals))
	for n := range ordinals {
		d, err := set.Desktop(n)
		if err != nil {
			return nil, err
		}
		it := desktop.Item{
			Name: d.Name, Ordinal: n, Pod: d.Pod, Host: d.Host, URL: d.URL(),
			Users: append([]string{}, users[d.Name]...), Status: desktop.StatusMissing,
		}
		if cfg.Expose.Mode == config.ExposeALB {
			it.Group = d.Group
			it.Address = lbs[d.Group]
		}
		if p := o.Pods[d.Pod]; p != nil {
			it.Node, it.PodIP = p.Spec.NodeName, p.Status.PodIP
			it.Created = p.CreationTimestamp.UTC().Format(time.RFC3339)
			it.Status, it.Ready = podStatus(p)
		}
		if it.Ready && cfg.Expose.Mode == config.ExposeALB && it.Address == "" {
			it.Status = desktop.StatusWaitingLB
		}
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Ordinal < items[j].Ordinal })
	return items, nil
}

func podStatus(p *corev1.Pod) (string, bool) {
	if p.DeletionTimestamp != nil {
		return desktop.StatusStopping, false
	}
	if PodReady(p) {
		return desktop.StatusReady, true
	}
	if p.Status.Phase == corev1.PodRunning {
		return desktop.StatusStarting, false
	}
	return desktop.StatusPending, false
}

// PodReady reports whether a pod's Ready condition is true.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
