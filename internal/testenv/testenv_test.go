package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestClusterRunsStatefulSet checks what every other test builds on: two
// Ready nodes, a StatefulSet whose claims bind and whose pods become Ready,
// kubectl compatibility, and the admin write count.
func TestClusterRunsStatefulSet(t *testing.T) {
	c := Current(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}

	// The server reports the release the tools module built.
	info, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if info.GitVersion != KubernetesVersion {
		t.Errorf("server version = %s, want %s", info.GitVersion, KubernetesVersion)
	}

	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 2 {
		t.Fatalf("got %d nodes, want 2", len(nodes.Items))
	}
	for _, node := range nodes.Items {
		if !nodeReady(&node) {
			t.Errorf("node %s is not Ready: %+v", node.Name, node.Status.Conditions)
		}
		if pods := node.Status.Allocatable.Pods().Value(); pods != 500 {
			t.Errorf("node %s allocates %d pods, want 500", node.Name, pods)
		}
	}

	// The kubeconfig works for the kubectl of the machine as well.
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Log("no kubectl on PATH: skipping the kubectl check")
	} else {
		out, err := c.Kubectl(ctx, "get", "nodes", "--no-headers").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get nodes: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		for _, line := range lines {
			if fields := strings.Fields(line); len(fields) < 2 || fields[1] != "Ready" {
				t.Errorf("kubectl shows a node that is not Ready: %q", line)
			}
		}
		if len(lines) != 2 {
			t.Errorf("kubectl lists %d nodes, want 2:\n%s", len(lines), out)
		}
	}

	before, err := c.WriteCount()
	if err != nil {
		t.Fatal(err)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "testenv-sts"}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "desk"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "desk"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 8080}},
		},
	}
	if _, err := client.CoreV1().Services(ns.Name).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "desk"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](3),
			ServiceName:         "desk",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:         "desktop",
						Image:        "example.invalid/desktop:test",
						VolumeMounts: []corev1.VolumeMount{{Name: "home", MountPath: "/home/desk"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "home"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
					},
				},
			}},
		},
	}
	if _, err := client.AppsV1().StatefulSets(ns.Name).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Three creates by the admin, none by anyone else counted.
	after, err := c.WriteCount()
	if err != nil {
		t.Fatal(err)
	}
	if after-before != 3 {
		writes, _ := c.Writes()
		t.Errorf("admin writes went from %d to %d, want 3 more: %v", before, after, writes)
	}

	start := time.Now()
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got, err := client.AppsV1().StatefulSets(ns.Name).Get(ctx, "desk", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return got.Status.ReadyReplicas == 3, nil
	})
	if err != nil {
		got, _ := client.AppsV1().StatefulSets(ns.Name).Get(ctx, "desk", metav1.GetOptions{})
		t.Fatalf("StatefulSet not 3/3 Ready: %v; status %+v", err, got.Status)
	}
	t.Logf("StatefulSet 3/3 Ready in %s", time.Since(start).Round(time.Millisecond))

	// Each pod runs on a fake node with its claim bound to a volume.
	pods, err := client.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("got %d pods, want 3", len(pods.Items))
	}
	for _, pod := range pods.Items {
		if pod.Status.Phase != corev1.PodRunning || !strings.HasPrefix(pod.Spec.NodeName, "kwok-node-") {
			t.Errorf("pod %s is %s on %q", pod.Name, pod.Status.Phase, pod.Spec.NodeName)
		}
	}
	claims, err := client.CoreV1().PersistentVolumeClaims(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(claims.Items) != 3 {
		t.Fatalf("got %d claims, want 3", len(claims.Items))
	}
	for _, claim := range claims.Items {
		if claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "" {
			t.Errorf("claim %s is %s, volume %q", claim.Name, claim.Status.Phase, claim.Spec.VolumeName)
		}
	}

	// Each claim has a volume of its own, of the default class.
	for _, claim := range claims.Items {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Errorf("volume of claim %s: %v", claim.Name, err)
			continue
		}
		if pv.Spec.StorageClassName != StorageClass || pv.Spec.HostPath == nil ||
			pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claim.UID || pv.Status.Phase != corev1.VolumeBound {
			t.Errorf("volume %s: class %q, claim %+v, phase %s", pv.Name, pv.Spec.StorageClassName,
				pv.Spec.ClaimRef, pv.Status.Phase)
		}
	}

	// Reads are not writes.
	if _, err := client.CoreV1().Services(ns.Name).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.WriteCount(); err != nil || n != after {
		t.Errorf("write count after reads = %d (%v), want %d", n, err, after)
	}

	// Scaling down keeps the claim; deleting the claim deletes its volume.
	scale := []byte(`{"spec":{"replicas":2}}`)
	if _, err := client.AppsV1().StatefulSets(ns.Name).Patch(ctx, "desk", types.MergePatchType,
		scale, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	claim, err := client.CoreV1().PersistentVolumeClaims(ns.Name).Get(ctx, "home-desk-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().PersistentVolumeClaims(ns.Name).Delete(ctx, claim.Name,
		metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		t.Errorf("volume %s of the deleted claim is still there: %v", claim.Spec.VolumeName, err)
	}
}

// TestStopLeavesNoProcess starts a cluster of its own, attached and
// detached, and checks that Stop ends every recorded process group.
func TestStopLeavesNoProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane; skipped in -short mode")
	}
	for _, detach := range []bool{false, true} {
		name := "attached"
		if detach {
			name = "detached"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			dir := t.TempDir()
			start := time.Now()
			c, err := Start(ctx, Options{Dir: dir, Nodes: 1, Detach: detach})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("started in %s", time.Since(start).Round(time.Millisecond))
			t.Cleanup(func() { _ = c.Stop() })

			// A detached cluster is found again through its directory.
			if detach {
				c, err = Attach(dir)
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Healthy(ctx); err != nil {
				t.Fatalf("fresh cluster not healthy: %v", err)
			}
			if got := len(c.PIDs()); got != 6 {
				t.Fatalf("recorded %d processes, want 6", got)
			}

			stop := time.Now()
			if err := c.Stop(); err != nil {
				t.Fatal(err)
			}
			t.Logf("stopped in %s", time.Since(stop).Round(time.Millisecond))
			for _, comp := range c.components {
				if comp.alive() {
					t.Errorf("%s (pid %d) still runs after Stop", comp.Name, comp.PID)
				}
				if left := groupMembers(comp.PID); len(left) > 0 {
					t.Errorf("%s's process group still has %v after Stop", comp.Name, left)
				}
			}
			if err := c.Healthy(ctx); err == nil {
				t.Error("Healthy is ok after Stop")
			}
			if _, err := Attach(dir); !errors.Is(err, ErrNoCluster) {
				t.Errorf("Attach after Stop = %v, want ErrNoCluster", err)
			}
		})
	}
}
