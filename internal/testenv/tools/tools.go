//go:build tools

// Package tools pins the control-plane commands that the local test cluster
// builds: kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
