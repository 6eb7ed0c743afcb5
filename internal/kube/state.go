package kube

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/deskctl/deskctl/internal/desktop"
)

// State reads what other backends need from the cluster: ALB addresses by
// group, assignments and the gateway configuration. It reuses this run's
// observation, plus one read of the cluster's identity.
func (b *Backend) State(ctx context.Context) (*desktop.ClusterState, error) {
	o, err := b.Observe(ctx)
	if err != nil {
		return nil, err
	}
	ks, err := b.client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the cluster's identity: %w", err)
	}

	st := &desktop.ClusterState{
		ClusterID:     string(ks.UID),
		LoadBalancers: LoadBalancers(o),
		Users:         b.Users(o),
	}
	if cm := o.ConfigMaps[desktop.AccessConfigMapName(b.cfg.Name)]; cm != nil {
		var ac desktop.AccessConfig
		if err := json.Unmarshal([]byte(cm.Data[desktop.AccessConfigKey]), &ac); err == nil {
			st.Access = &ac
		}
	}
	return st, nil
}

// LoadBalancers maps each ALB group to the hostname its Ingresses report.
func LoadBalancers(o *Observed) map[string]string {
	lbs := map[string]string{}
	for _, ing := range o.Ingresses {
		group := ing.Annotations[AnnGroupName]
		for _, lb := range ing.Status.LoadBalancer.Ingress {
			if lb.Hostname != "" && group != "" {
				lbs[group] = lb.Hostname
			}
		}
	}
	return lbs
}

// CurrentReplicas reads the desired replicas of an existing set; ok is
// false when the set does not exist.
func CurrentReplicas(ctx context.Context, c kubernetes.Interface, ns, set string) (int, bool, error) {
	sts, err := c.AppsV1().StatefulSets(ns).Get(ctx, set, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading statefulset %s/%s: %w", ns, set, err)
	}
	if sts.Spec.Replicas == nil {
		return 1, true, nil
	}
	return int(*sts.Spec.Replicas), true, nil
}

// Current returns the cluster's copy of obj, from this run's observation,
// or nil when there is none. It serves the kinds other backends write:
// Secrets, ConfigMaps and Deployments.
func (b *Backend) Current(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	o, err := b.Observe(ctx)
	if err != nil {
		return nil, err
	}
	if cur := b.observedObject(kindOf(obj), metaOf(obj).Name, o); cur != nil {
		return cur, nil
	}
	return nil, nil
}
