package kube

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/plan"
)

// FieldManager is the server-side apply manager of every object deskctl
// writes.
const FieldManager = "deskctl"

// AnnotationHash records the hash of the object deskctl last applied, so an
// unchanged re-run writes nothing.
const AnnotationHash = "deskctl.io/applied-hash"

// BackendName names the cluster backend in plans.
const BackendName = "kubernetes"

// Options say what the cluster backend should reach.
type Options struct {
	// Replicas is the desired number of desktops.
	Replicas int
	// Teardown removes every object of the set (down).
	Teardown bool
	// DeleteVolumes also removes home volumes no desktop uses any more,
	// or all of them on teardown.
	DeleteVolumes bool
	// ManageAccessConfig makes this backend write the gateway ConfigMap;
	// when Cloudflare is enabled, its backend writes it instead.
	ManageAccessConfig bool
	// Users overrides the assigned users of some desktops (assign).
	Users map[string][]string
	// InboundCIDRs restrict every ALB (origin lock).
	InboundCIDRs []string
	// Logger receives one line per applied change; nil discards.
	Logger *slog.Logger
}

// Backend is the cluster side of a desktop set.
type Backend struct {
	client  kubernetes.Interface
	cfg     *config.Config
	build   *Builder
	opts    Options
	log     *slog.Logger
	mu      sync.Mutex
	current *Observed
}

// NewBackend returns the cluster backend. It does no I/O.
func NewBackend(client kubernetes.Interface, cfg *config.Config, opts Options) *Backend {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backend{
		client: client, cfg: cfg, opts: opts, log: log,
		build: NewBuilder(cfg, opts.InboundCIDRs),
	}
}

// Name implements plan.Backend.
func (b *Backend) Name() string { return BackendName }

// Observed is what exists of a set, read with one list call per kind.
type Observed struct {
	Namespace       *corev1.Namespace
	StatefulSet     *appsv1.StatefulSet
	Services        map[string]*corev1.Service // by name
	Ingresses       map[string]*networkingv1.Ingress
	Secrets         map[string]*corev1.Secret
	ConfigMaps      map[string]*corev1.ConfigMap
	ServiceAccounts map[string]*corev1.ServiceAccount
	NetworkPolicies map[string]*networkingv1.NetworkPolicy
	Deployments     map[string]*appsv1.Deployment
	Pods            map[string]*corev1.Pod
	PVCs            map[string]*corev1.PersistentVolumeClaim
}

// Observe lists every object of the set, once per run; Refresh forgets it.
func (b *Backend) Observe(ctx context.Context) (*Observed, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.current != nil {
		return b.current, nil
	}
	o, err := observe(ctx, b.client, b.cfg.Namespace, b.cfg.Name)
	if err != nil {
		return nil, err
	}
	b.current = o
	return o, nil
}

// Refresh makes the next Observe read the cluster again.
func (b *Backend) Refresh() {
	b.mu.Lock()
	b.current = nil
	b.mu.Unlock()
}

func observe(ctx context.Context, c kubernetes.Interface, ns, set string) (*Observed, error) {
	o := &Observed{}
	namespace, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// Nothing of the set can exist.
		return o, nil
	case err != nil:
		return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	o.Namespace = namespace

	sel := metav1.ListOptions{LabelSelector: desktop.Selector(set)}
	var g errGroup
	g.Go(func() error {
		l, err := c.AppsV1().StatefulSets(ns).List(ctx, sel)
		if err == nil {
			for i := range l.Items {
				if l.Items[i].Name == set {
					o.StatefulSet = &l.Items[i]
				}
			}
		}
		return wrapList("statefulsets", err)
	})
	g.Go(func() error {
		l, err := c.CoreV1().Services(ns).List(ctx, sel)
		if err == nil {
			o.Services = byName(l.Items, func(x *corev1.Service) string { return x.Name })
		}
		return wrapList("services", err)
	})
	g.Go(func() error {
		l, err := c.NetworkingV1().Ingresses(ns).List(ctx, sel)
		if err == nil {
			o.Ingresses = byName(l.Items, func(x *networkingv1.Ingress) string { return x.Name })
		}
		return wrapList("ingresses", err)
	})
	g.Go(func() error {
		l, err := c.CoreV1().Secrets(ns).List(ctx, sel)
		if err == nil {
			o.Secrets = byName(l.Items, func(x *corev1.Secret) string { return x.Name })
		}
		return wrapList("secrets", err)
	})
	g.Go(func() error {
		l, err := c.CoreV1().ConfigMaps(ns).List(ctx, sel)
		if err == nil {
			o.ConfigMaps = byName(l.Items, func(x *corev1.ConfigMap) string { return x.Name })
		}
		return wrapList("configmaps", err)
	})
	g.Go(func() error {
		l, err := c.CoreV1().ServiceAccounts(ns).List(ctx, sel)
		if err == nil {
			o.ServiceAccounts = byName(l.Items, func(x *corev1.ServiceAccount) string { return x.Name })
		}
		return wrapList("serviceaccounts", err)
	})
	g.Go(func() error {
		l, err := c.NetworkingV1().NetworkPolicies(ns).List(ctx, sel)
		if err == nil {
			o.NetworkPolicies = byName(l.Items, func(x *networkingv1.NetworkPolicy) string { return x.Name })
		}
		return wrapList("networkpolicies", err)
	})
	g.Go(func() error {
		l, err := c.AppsV1().Deployments(ns).List(ctx, sel)
		if err == nil {
			o.Deployments = byName(l.Items, func(x *appsv1.Deployment) string { return x.Name })
		}
		return wrapList("deployments", err)
	})
	g.Go(func() error {
		l, err := c.CoreV1().Pods(ns).List(ctx, sel)
		if err == nil {
			o.Pods = byName(l.Items, func(x *corev1.Pod) string { return x.Name })
		}
		return wrapList("pods", err)
	})
	g.Go(func() error {
		l, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, sel)
		if err == nil {
			o.PVCs = byName(l.Items, func(x *corev1.PersistentVolumeClaim) string { return x.Name })
		}
		return wrapList("persistentvolumeclaims", err)
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return o, nil
}

func wrapList(kind string, err error) error {
	if err != nil {
		return fmt.Errorf("listing %s: %w", kind, err)
	}
	return nil
}

func byName[T any](items []T, name func(*T) string) map[string]*T {
	m := make(map[string]*T, len(items))
	for i := range items {
		m[name(&items[i])] = &items[i]
	}
	return m
}

// errGroup runs functions concurrently and keeps the first error.
type errGroup struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (g *errGroup) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.mu.Lock()
			g.errs = append(g.errs, err)
			g.mu.Unlock()
		}
	}()
}

func (g *errGroup) Wait() error {
	g.wg.Wait()
	if len(g.errs) > 0 {
		return g.errs[0]
	}
	return nil
}

// Users returns the assigned users of every desktop, as the cluster keeps
// them on the desktops' Services, with this run's overrides applied.
func (b *Backend) Users(o *Observed) map[string][]string {
	users := map[string][]string{}
	for _, svc := range o.Services {
		name := svc.Labels[desktop.LabelDesktop]
		if name == "" {
			continue
		}
		if v := svc.Annotations[desktop.AnnotationUsers]; v != "" {
			users[name] = strings.Split(v, ",")
		}
	}
	for name, u := range b.opts.Users {
		if len(u) == 0 {
			delete(users, name)
		} else {
			users[name] = u
		}
	}
	return users
}

// Plan implements plan.Backend.
func (b *Backend) Plan(ctx context.Context) ([]plan.Step, error) {
	o, err := b.Observe(ctx)
	if err != nil {
		return nil, err
	}
	if b.opts.Teardown {
		return b.planTeardown(o), nil
	}
	desktops, err := b.cfg.Set().Desktops(b.opts.Replicas)
	if err != nil {
		return nil, err
	}
	desired, err := b.Desired(desktops, o)
	if err != nil {
		return nil, err
	}

	var steps []plan.Step
	for _, want := range desired {
		if s, ok := b.applyStep(want, o); ok {
			steps = append(steps, s)
		}
	}
	steps = append(steps, b.pruneSteps(desktops, o)...)
	return steps, nil
}

// Desired returns every object the set should have, in apply order. The
// Secret is filled from what exists, and new secrets are generated.
func (b *Backend) Desired(desktops []desktop.Desktop, o *Observed) ([]Object, error) {
	var out []Object
	add := func(stage int, desk string, obj runtime.Object) {
		out = append(out, Object{Stage: stage, Desktop: desk, Object: obj})
	}

	add(plan.StageNamespace, "", b.build.Namespace())
	add(plan.StageSet, "", b.build.ServiceAccount())
	add(plan.StageSet, "", b.build.HeadlessService())
	add(plan.StageSet, "", b.build.NetworkPolicy())

	data := func(name string) map[string][]byte {
		if s := o.Secrets[name]; s != nil {
			return s.Data
		}
		return nil
	}
	mounted, local, err := b.build.Secrets(desktops, data(desktop.SecretName(b.cfg.Name)),
		data(desktop.LocalAccessSecretName(b.cfg.Name)), newSecret)
	if err != nil {
		return nil, err
	}
	add(plan.StageSet, "", mounted)
	add(plan.StageSet, "", local)

	if b.opts.ManageAccessConfig {
		add(plan.StageSet, "", b.build.AccessConfigMap(b.localAccessConfig(desktops, o)))
	}

	users := b.Users(o)
	for _, d := range desktops {
		add(plan.StageWorkload, d.Name, b.build.DesktopService(d, users[d.Name]))
		if b.cfg.Expose.Mode == config.ExposeALB {
			add(plan.StageWorkload, d.Name, b.build.Ingress(d))
		}
	}

	sts, err := b.build.StatefulSet(len(desktops))
	if err != nil {
		return nil, err
	}
	add(plan.StageScale, "", sts)
	return out, nil
}

// localAccessConfig is the gateway configuration without Cloudflare: only
// the assigned users.
func (b *Backend) localAccessConfig(desktops []desktop.Desktop, o *Observed) string {
	users := b.Users(o)
	ac := desktop.AccessConfig{TeamDomain: b.cfg.Cloudflare.TeamDomain}
	for _, d := range desktops {
		if u := users[d.Name]; len(u) > 0 {
			if ac.Desktops == nil {
				ac.Desktops = map[string]desktop.DesktopAccess{}
			}
			ac.Desktops[d.Name] = desktop.DesktopAccess{Pod: d.Pod, Users: u}
		}
	}
	data, _ := json.Marshal(ac) // a struct of strings always marshals
	return string(data)
}

// Object is one desired object and where it goes in the plan.
type Object struct {
	Stage   int
	Desktop string
	Object  runtime.Object
}

func newSecret() ([]byte, error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generating a secret: %w", err)
	}
	// VNC passwords use only their first 8 bytes; keep them printable.
	return []byte(base64.RawURLEncoding.EncodeToString(raw)), nil
}

// applyStep compares a desired object with what exists and returns the
// step that applies it, if anything differs.
func (b *Backend) applyStep(want Object, o *Observed) (plan.Step, bool) {
	obj := want.Object
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	m := metaOf(obj)
	action, detail := plan.Create, ""

	switch cur := b.observedObject(kind, m.Name, o).(type) {
	case nil:
	case *corev1.Namespace:
		// An existing namespace is used as it is, whoever made it.
		return plan.Step{}, false
	case *corev1.Secret:
		// Values are compared, never printed.
		want := obj.(*corev1.Secret)
		if maps.EqualFunc(cur.Data, want.Data, bytes.Equal) && cur.Labels[desktop.LabelSet] == b.cfg.Name {
			return plan.Step{}, false
		}
		action, detail = plan.Update, "desktop secrets"
	default:
		hash := hashOf(obj)
		cm := metaOf(cur)
		if cm.Annotations[AnnotationHash] == hash && !replicasDrifted(cur, obj) {
			return plan.Step{}, false
		}
		action = plan.Update
		if replicasDrifted(cur, obj) {
			detail = replicasDetail(cur, obj)
		}
	}
	if kind != "Secret" && kind != "Namespace" {
		setAnnotation(obj, AnnotationHash, hashOf(obj))
	}

	change := plan.Change{
		Backend: BackendName, Kind: kind, Name: qualified(m.Namespace, m.Name),
		Desktop: want.Desktop, Action: action, Detail: detail, Object: obj,
	}
	return plan.Step{
		Stage:   want.Stage,
		Desktop: want.Desktop,
		Changes: []plan.Change{change},
		Run: func(ctx context.Context) error {
			if err := b.Apply(ctx, obj); err != nil {
				return err
			}
			b.log.Info("applied", "kind", kind, "name", m.Name, "desktop", want.Desktop,
				"action", action)
			return nil
		},
	}, true
}

func (b *Backend) observedObject(kind, name string, o *Observed) runtime.Object {
	var cur runtime.Object
	switch kind {
	case "Namespace":
		if o.Namespace != nil {
			cur = o.Namespace
		}
	case "StatefulSet":
		if o.StatefulSet != nil {
			cur = o.StatefulSet
		}
	case "Service":
		if v := o.Services[name]; v != nil {
			cur = v
		}
	case "Ingress":
		if v := o.Ingresses[name]; v != nil {
			cur = v
		}
	case "Secret":
		if v := o.Secrets[name]; v != nil {
			cur = v
		}
	case "ConfigMap":
		if v := o.ConfigMaps[name]; v != nil {
			cur = v
		}
	case "ServiceAccount":
		if v := o.ServiceAccounts[name]; v != nil {
			cur = v
		}
	case "NetworkPolicy":
		if v := o.NetworkPolicies[name]; v != nil {
			cur = v
		}
	case "Deployment":
		if v := o.Deployments[name]; v != nil {
			cur = v
		}
	}
	return cur
}

func replicasDrifted(cur, want runtime.Object) bool {
	c, ok1 := cur.(*appsv1.StatefulSet)
	w, ok2 := want.(*appsv1.StatefulSet)
	if !ok1 || !ok2 || c.Spec.Replicas == nil || w.Spec.Replicas == nil {
		return false
	}
	return *c.Spec.Replicas != *w.Spec.Replicas
}

func replicasDetail(cur, want runtime.Object) string {
	c := cur.(*appsv1.StatefulSet)
	w := want.(*appsv1.StatefulSet)
	return fmt.Sprintf("replicas %d -> %d", *c.Spec.Replicas, *w.Spec.Replicas)
}

// pruneSteps removes per-desktop objects beyond the desired count, and
// with DeleteVolumes their home volumes.
func (b *Backend) pruneSteps(desktops []desktop.Desktop, o *Observed) []plan.Step {
	n := len(desktops)
	var steps []plan.Step
	for _, svc := range sortedValues(o.Services) {
		if beyond(svc.Labels, n) {
			steps = append(steps, b.deleteStep(plan.StageWorkload, svc.Labels[desktop.LabelDesktop], svc))
		}
	}
	for _, ing := range sortedValues(o.Ingresses) {
		// Ingresses beyond the count, and all of them when not in alb mode.
		if beyond(ing.Labels, n) || b.cfg.Expose.Mode != config.ExposeALB {
			steps = append(steps, b.deleteStep(plan.StageWorkload, ing.Labels[desktop.LabelDesktop], ing))
		}
	}
	if b.opts.DeleteVolumes {
		for _, pvc := range sortedValues(o.PVCs) {
			if ord, ok := pvcOrdinal(pvc.Name, b.cfg.Name); ok && ord > n {
				steps = append(steps, b.deleteStep(plan.StageCleanup, "", pvc))
			}
		}
	}
	return steps
}

// beyond reports whether a per-desktop object's ordinal is past n.
func beyond(labels map[string]string, n int) bool {
	ord, err := strconv.Atoi(labels[desktop.LabelOrdinal])
	return err == nil && labels[desktop.LabelDesktop] != "" && ord > n
}

// pvcOrdinal reads the ordinal from a home volume's name: home-desk-3.
func pvcOrdinal(name, set string) (int, bool) {
	rest, ok := strings.CutPrefix(name, homeVolume+"-"+set+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

// planTeardown deletes every labelled object of the set. The namespace
// stays: it may hold what deskctl did not create, and the home volumes.
func (b *Backend) planTeardown(o *Observed) []plan.Step {
	var steps []plan.Step
	add := func(stage int, obj runtime.Object) {
		steps = append(steps, b.deleteStep(stage, metaOf(obj).Labels[desktop.LabelDesktop], obj))
	}
	if o.StatefulSet != nil {
		add(plan.StageWorkload, o.StatefulSet)
	}
	for _, x := range sortedValues(o.Ingresses) {
		add(plan.StageWorkload, x)
	}
	for _, x := range sortedValues(o.Services) {
		add(plan.StageWorkload, x)
	}
	for _, x := range sortedValues(o.Deployments) {
		add(plan.StageWorkload, x)
	}
	for _, x := range sortedValues(o.NetworkPolicies) {
		add(plan.StageCleanup, x)
	}
	for _, x := range sortedValues(o.ServiceAccounts) {
		add(plan.StageCleanup, x)
	}
	for _, x := range sortedValues(o.Secrets) {
		add(plan.StageCleanup, x)
	}
	for _, x := range sortedValues(o.ConfigMaps) {
		add(plan.StageCleanup, x)
	}
	if b.opts.DeleteVolumes {
		for _, x := range sortedValues(o.PVCs) {
			add(plan.StageCleanup, x)
		}
	}
	return steps
}

func sortedValues[T any](m map[string]*T) []*T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*T, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

func (b *Backend) deleteStep(stage int, desk string, obj runtime.Object) plan.Step {
	kind := kindOf(obj)
	m := metaOf(obj)
	return plan.Step{
		Stage:   stage,
		Desktop: desk,
		Changes: []plan.Change{{
			Backend: BackendName, Kind: kind, Name: qualified(m.Namespace, m.Name),
			Desktop: desk, Action: plan.Delete,
		}},
		Run: func(ctx context.Context) error {
			if err := b.Delete(ctx, obj); err != nil {
				return err
			}
			b.log.Info("deleted", "kind", kind, "name", m.Name, "desktop", desk)
			return nil
		},
	}
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// hashOf hashes an object's JSON without its hash annotation.
func hashOf(obj runtime.Object) string {
	c := obj.DeepCopyObject()
	m := metaOf(c)
	delete(m.Annotations, AnnotationHash)
	if len(m.Annotations) == 0 {
		m.Annotations = nil
	}
	data, _ := json.Marshal(c) // built objects always marshal
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

func setAnnotation(obj runtime.Object, k, v string) {
	m := metaOf(obj)
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[k] = v
}

// metaOf returns the ObjectMeta of any built-in object.
func metaOf(obj runtime.Object) *metav1.ObjectMeta {
	type metaHolder interface{ GetObjectMeta() metav1.Object }
	if h, ok := obj.(metaHolder); ok {
		if m, ok := h.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return m
		}
	}
	return &metav1.ObjectMeta{}
}

// kindOf names the kind of a typed object, also when its TypeMeta is empty
// (as on objects read from a typed client).
func kindOf(obj runtime.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	switch obj.(type) {
	case *corev1.Service:
		return "Service"
	case *networkingv1.Ingress:
		return "Ingress"
	case *appsv1.StatefulSet:
		return "StatefulSet"
	case *appsv1.Deployment:
		return "Deployment"
	case *corev1.Secret:
		return "Secret"
	case *corev1.ConfigMap:
		return "ConfigMap"
	case *corev1.ServiceAccount:
		return "ServiceAccount"
	case *networkingv1.NetworkPolicy:
		return "NetworkPolicy"
	case *corev1.PersistentVolumeClaim:
		return "PersistentVolumeClaim"
	case *corev1.Namespace:
		return "Namespace"
	}
	return fmt.Sprintf("%T", obj)
}

// Apply writes an object with server-side apply, as field manager deskctl.
func (b *Backend) Apply(ctx context.Context, obj runtime.Object) error {
	m := metaOf(obj)
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", kindOf(obj), m.Name, err)
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr.To(true)}
	c, ns, name, pt := b.client, m.Namespace, m.Name, types.ApplyPatchType
	switch obj.(type) {
	case *corev1.Namespace:
		_, err = c.CoreV1().Namespaces().Patch(ctx, name, pt, data, opts)
	case *corev1.ServiceAccount:
		_, err = c.CoreV1().ServiceAccounts(ns).Patch(ctx, name, pt, data, opts)
	case *corev1.Service:
		_, err = c.CoreV1().Services(ns).Patch(ctx, name, pt, data, opts)
	case *corev1.Secret:
		_, err = c.CoreV1().Secrets(ns).Patch(ctx, name, pt, data, opts)
	case *corev1.ConfigMap:
		_, err = c.CoreV1().ConfigMaps(ns).Patch(ctx, name, pt, data, opts)
	case *appsv1.StatefulSet:
		_, err = c.AppsV1().StatefulSets(ns).Patch(ctx, name, pt, data, opts)
	case *appsv1.Deployment:
		_, err = c.AppsV1().Deployments(ns).Patch(ctx, name, pt, data, opts)
	case *networkingv1.Ingress:
		_, err = c.NetworkingV1().Ingresses(ns).Patch(ctx, name, pt, data, opts)
	case *networkingv1.NetworkPolicy:
		_, err = c.NetworkingV1().NetworkPolicies(ns).Patch(ctx, name, pt, data, opts)
	default:
		return fmt.Errorf("deskctl does not apply %T", obj)
	}
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", kindOf(obj), qualified(ns, name), err)
	}
	return nil
}

// Delete removes an object; one that is already gone is fine.
func (b *Backend) Delete(ctx context.Context, obj runtime.Object) error {
	m := metaOf(obj)
	c, ns, name := b.client, m.Namespace, m.Name
	opts := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}
	var err error
	switch obj.(type) {
	case *corev1.ServiceAccount:
		err = c.CoreV1().ServiceAccounts(ns).Delete(ctx, name, opts)
	case *corev1.Service:
		err = c.CoreV1().Services(ns).Delete(ctx, name, opts)
	case *corev1.Secret:
		err = c.CoreV1().Secrets(ns).Delete(ctx, name, opts)
	case *corev1.ConfigMap:
		err = c.CoreV1().ConfigMaps(ns).Delete(ctx, name, opts)
	case *corev1.PersistentVolumeClaim:
		err = c.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, name, opts)
	case *appsv1.StatefulSet:
		err = c.AppsV1().StatefulSets(ns).Delete(ctx, name, opts)
	case *appsv1.Deployment:
		err = c.AppsV1().Deployments(ns).Delete(ctx, name, opts)
	case *networkingv1.Ingress:
		err = c.NetworkingV1().Ingresses(ns).Delete(ctx, name, opts)
	case *networkingv1.NetworkPolicy:
		err = c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, name, opts)
	default:
		return fmt.Errorf("deskctl does not delete %T", obj)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s: %w", kindOf(obj), qualified(ns, name), err)
	}
	return nil
}
