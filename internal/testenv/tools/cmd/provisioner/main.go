// Command provisioner gives every pending claim of the local cluster's
// default StorageClass a hostPath PersistentVolume of its own and binds the
// two, on many workers at once, so a thousand desktops' home volumes bind
// in seconds. It deletes such a volume once its claim is gone. The fake
// nodes mount nothing, so the volumes are API objects only and no directory
// is created.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	class := flag.String("class", "standard", "StorageClass whose claims to provision")
	name := flag.String("provisioner", "testenv.deskctl.dev/hostpath", "provisioner name of that class")
	root := flag.String("path", "/var/lib/deskctl-testenv/volumes", "hostPath prefix of the volumes")
	workers := flag.Int("workers", 16, "claims handled at once")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, log, *kubeconfig, *class, *name, *root, *workers); err != nil {
		log.Error("provisioner failed", "err", err)
		os.Exit(1)
	}
}

// provisioner binds claims of one class to volumes made for them.
type provisioner struct {
	log     *slog.Logger
	client  kubernetes.Interface
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	queue   workqueue.TypedRateLimitingInterface[string]
	class   string
	name    string
	root    string
}

func run(ctx context.Context, log *slog.Logger, kubeconfig, class, name, root string, workers int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.UserAgent = "deskctl-testenv-provisioner"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	factory := informers.NewSharedInformerFactory(client, 0)
	claimInformer := factory.Core().V1().PersistentVolumeClaims()
	volumeInformer := factory.Core().V1().PersistentVolumes()
	p := &provisioner{
		log:     log,
		client:  client,
		claims:  claimInformer.Lister(),
		volumes: volumeInformer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueue(
			workqueue.DefaultTypedControllerRateLimiter[string]()),
		class: class,
		name:  name,
		root:  root,
	}
	defer p.queue.ShutDown()

	// Keys are "claim/<namespace>/<name>" and "volume/<name>".
	onClaim := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			p.queue.Add("claim/" + key)
		}
	}
	onVolume := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			p.queue.Add("volume/" + key)
		}
	}
	if _, err := claimInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onClaim,
		UpdateFunc: func(_, obj any) { onClaim(obj) },
	}); err != nil {
		return err
	}
	if _, err := volumeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onVolume,
		UpdateFunc: func(_, obj any) { onVolume(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	for informer, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cache of %v did not sync", informer)
		}
	}
	log.Info("provisioning", "class", class, "provisioner", name, "workers", workers)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for p.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	p.queue.ShutDown()
	wg.Wait()
	return nil
}

// next handles one key from the queue; false means the queue is shut down.
func (p *provisioner) next(ctx context.Context) bool {
	key, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(key)

	var err error
	switch {
	case len(key) > 6 && key[:6] == "claim/":
		err = p.syncClaim(ctx, key[6:])
	case len(key) > 7 && key[:7] == "volume/":
		err = p.syncVolume(ctx, key[7:])
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("retrying", "key", key, "err", err)
		p.queue.AddRateLimited(key)
		return true
	}
	p.queue.Forget(key)
	return true
}

// syncClaim makes a volume for a pending claim of the class and binds both,
// as the volume binder would once it found the volume.
func (p *provisioner) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	claim, err := p.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if claim.DeletionTimestamp != nil || claim.Status.Phase == corev1.ClaimBound ||
		claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != p.class {
		return nil
	}
	if claim.Spec.VolumeName != "" && claim.Spec.VolumeName != volumeName(claim) {
		return nil // bound by someone else to a volume of theirs
	}

	volume := p.volumeFor(claim)
	_, err = p.client.CoreV1().PersistentVolumes().Create(ctx, volume, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create volume %s: %w", volume.Name, err)
	}
	if err := p.patch(ctx, volume.Name, "", "status", map[string]any{
		"status": map[string]any{"phase": corev1.VolumeBound},
	}); err != nil {
		return err
	}
	if err := p.patch(ctx, name, ns, "", map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{
			"pv.kubernetes.io/bind-completed":               "yes",
			"pv.kubernetes.io/bound-by-controller":          "yes",
			"volume.kubernetes.io/storage-provisioner":      p.name,
			"volume.beta.kubernetes.io/storage-provisioner": p.name,
		}},
		"spec": map[string]any{"volumeName": volume.Name},
	}); err != nil {
		return err
	}
	if err := p.patch(ctx, name, ns, "status", map[string]any{
		"status": map[string]any{
			"phase":       corev1.ClaimBound,
			"accessModes": volume.Spec.AccessModes,
			"capacity":    volume.Spec.Capacity,
		},
	}); err != nil {
		return err
	}
	p.log.Info("bound", "claim", key, "volume", volume.Name)
	return nil
}

// syncVolume deletes a volume of this provisioner once the volume binder
// has released it from its deleted claim, as its Delete policy asks.
func (p *provisioner) syncVolume(ctx context.Context, name string) error {
	volume, err := p.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if volume.Annotations["pv.kubernetes.io/provisioned-by"] != p.name ||
		volume.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		volume.Status.Phase != corev1.VolumeReleased || volume.DeletionTimestamp != nil {
		return nil
	}
	err = p.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &volume.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete volume %s: %w", name, err)
	}
	p.log.Info("deleted", "volume", name)
	return nil
}

func (p *provisioner) volumeFor(claim *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	name := volumeName(claim)
	hostPathType := corev1.HostPathDirectoryOrCreate
	mode := corev1.PersistentVolumeFilesystem
	if claim.Spec.VolumeMode != nil {
		mode = *claim.Spec.VolumeMode
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": p.name},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      claim.Spec.Resources.Requests,
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              p.class,
			VolumeMode:                    &mode,
			ClaimRef: &corev1.ObjectReference{
				APIVersion:      "v1",
				Kind:            "PersistentVolumeClaim",
				Namespace:       claim.Namespace,
				Name:            claim.Name,
				UID:             claim.UID,
				ResourceVersion: claim.ResourceVersion,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{
					Path: path.Join(p.root, name),
					Type: &hostPathType,
				},
			},
		},
	}
}

// volumeName is the name of the volume made for a claim.
func volumeName(claim *corev1.PersistentVolumeClaim) string {
	return "pvc-" + string(claim.UID)
}

// patch merge-patches a claim (namespace set) or a volume, optionally its
// status subresource.
func (p *provisioner) patch(ctx context.Context, name, namespace, sub string, body map[string]any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	subs := []string{}
	if sub != "" {
		subs = append(subs, sub)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if namespace == "" {
		_, err = p.client.CoreV1().PersistentVolumes().Patch(ctx, name, types.MergePatchType, data,
			metav1.PatchOptions{}, subs...)
	} else {
		_, err = p.client.CoreV1().PersistentVolumeClaims(namespace).Patch(ctx, name,
			types.MergePatchType, data, metav1.PatchOptions{}, subs...)
	}
	if err != nil {
		return fmt.Errorf("patch %s %s/%s: %w", sub, namespace, name, err)
	}
	return nil
}
