package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/deskctl/deskctl/internal/desktop"
)

// WaitReady blocks until the pods of desktops 1..n are all Ready, watching
// the set's pods rather than polling. progress, when set, hears the count
// of ready desktops each time it changes.
func WaitReady(ctx context.Context, c kubernetes.Interface, ns string, set desktop.Set, n int,
	progress func(ready, want int)) error {
	want := map[string]bool{}
	for i := 1; i <= n; i++ {
		want[set.PodName(i)] = true
	}
	if n == 0 {
		return nil
	}

	sel := desktop.Selector(set.Name)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return c.CoreV1().Pods(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return c.CoreV1().Pods(ns).Watch(ctx, o)
		},
	}

	ready := map[string]bool{}
	last := -1
	cond := func(ev watch.Event) (bool, error) {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || !want[p.Name] {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			delete(ready, p.Name)
		} else if PodReady(p) && p.DeletionTimestamp == nil {
			ready[p.Name] = true
		} else {
			delete(ready, p.Name)
		}
		if progress != nil && len(ready) != last {
			last = len(ready)
			progress(last, n)
		}
		return len(ready) == n, nil
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, cond)
	if err != nil {
		return fmt.Errorf("waiting for %d desktops to be Ready (%d are): %w", n, len(ready), err)
	}
	return nil
}
