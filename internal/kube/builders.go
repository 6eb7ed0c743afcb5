// Package kube is deskctl's cluster backend: pure builders of every object
// a desktop set needs, and the backend that observes, diffs and applies
// them with server-side apply.
package kube

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/deskctl/deskctl/internal/config"
	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/gateway"
)

// ALB annotations, as the AWS Load Balancer Controller reads them.
const (
	albPrefix         = "alb.ingress.kubernetes.io/"
	AnnGroupName      = albPrefix + "group.name"
	AnnScheme         = albPrefix + "scheme"
	AnnTargetType     = albPrefix + "target-type"
	AnnListenPorts    = albPrefix + "listen-ports"
	AnnCertificateARN = albPrefix + "certificate-arn"
	AnnHealthcheck    = albPrefix + "healthcheck-path"
	AnnLBAttributes   = albPrefix + "load-balancer-attributes"
	AnnInboundCIDRs   = albPrefix + "inbound-cidrs"
)

// ExclusiveAnnotations must agree across every Ingress of an ALB group, or
// the controller fails the whole group.
var ExclusiveAnnotations = []string{AnnScheme, AnnLBAttributes, AnnInboundCIDRs, AnnListenPorts}

// Mount paths inside a desktop pod.
const (
	SecretMountPath = "/etc/deskctl/secret"
	AccessMountPath = "/etc/deskctl/access"
	HomeMountPath   = "/home/desk"
	homeVolume      = "home"
	metricsPort     = 9090
	desktopUID      = 1000
)

// Builder makes the objects of one set from the configuration. Its methods
// are pure: the same inputs give the same objects.
type Builder struct {
	Config *config.Config
	Set    desktop.Set
	// InboundCIDRs, when not empty, restrict every ALB to these ranges.
	InboundCIDRs []string
}

// NewBuilder returns a builder for the configured set.
func NewBuilder(cfg *config.Config, cidrs []string) *Builder {
	return &Builder{Config: cfg, Set: cfg.Set(), InboundCIDRs: cidrs}
}

func (b *Builder) meta(name string, extra map[string]string) metav1.ObjectMeta {
	labels := desktop.SelectorLabels(b.Set.Name)
	for k, v := range extra {
		labels[k] = v
	}
	return metav1.ObjectMeta{Name: name, Namespace: b.Set.Namespace, Labels: labels}
}

// Namespace is the set's namespace.
func (b *Builder) Namespace() *corev1.Namespace {
	m := b.meta(b.Set.Namespace, nil)
	m.Namespace = ""
	return &corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace"), ObjectMeta: m}
}

// ServiceAccount runs the desktops; it gets no API token.
func (b *Builder) ServiceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     typeMeta("v1", "ServiceAccount"),
		ObjectMeta:                   b.meta(b.Set.Name, nil),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// HeadlessService gives the StatefulSet's pods their stable DNS names.
func (b *Builder) HeadlessService() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: b.meta(b.Set.Name, map[string]string{desktop.LabelComponent: "headless"}),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  b.podSelector(),
			Ports:     []corev1.ServicePort{gatewayServicePort()},
		},
	}
}

func (b *Builder) podSelector() map[string]string {
	return map[string]string{desktop.LabelSet: b.Set.Name, desktop.LabelComponent: "desktop"}
}

func gatewayServicePort() corev1.ServicePort {
	return corev1.ServicePort{
		Name:       "gateway",
		Port:       desktop.GatewayPort,
		TargetPort: intstr.FromString("gateway"),
		Protocol:   corev1.ProtocolTCP,
	}
}

// StatefulSet runs replicas desktops numbered from 1.
func (b *Builder) StatefulSet(replicas int) (*appsv1.StatefulSet, error) {
	cfg := b.Config
	size, err := resource.ParseQuantity(cfg.Home.Size)
	if err != nil {
		return nil, fmt.Errorf("home.size: %w", err)
	}
	res, err := resources(cfg.Resources)
	if err != nil {
		return nil, err
	}

	podLabels := desktop.SelectorLabels(b.Set.Name)
	for k, v := range b.podSelector() {
		podLabels[k] = v
	}
	pvc := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: homeVolume, Labels: desktop.SelectorLabels(b.Set.Name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: size},
			},
		},
	}
	if cfg.Home.StorageClass != "" {
		pvc.Spec.StorageClassName = ptr.To(cfg.Home.StorageClass)
	}

	return &appsv1.StatefulSet{
		TypeMeta:   typeMeta("apps/v1", "StatefulSet"),
		ObjectMeta: b.meta(b.Set.Name, nil),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(int32(replicas)),
			ServiceName:         b.Set.Name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Ordinals:            &appsv1.StatefulSetOrdinals{Start: 1},
			Selector:            &metav1.LabelSelector{MatchLabels: b.podSelector()},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec:       b.podSpec(res),
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{pvc},
		},
	}, nil
}

func (b *Builder) podSpec(res corev1.ResourceRequirements) corev1.PodSpec {
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString("gateway"),
			}},
			PeriodSeconds:    period,
			FailureThreshold: 3,
		}
	}
	return corev1.PodSpec{
		ServiceAccountName:           b.Set.Name,
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To(int64(desktopUID)),
			RunAsGroup:     ptr.To(int64(desktopUID)),
			FSGroup:        ptr.To(int64(desktopUID)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:      "desktop",
			Image:     b.Config.Image,
			Resources: res,
			Env: []corev1.EnvVar{
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"},
				}},
				// deskgate reads the set's Access settings from the mounted
				// ConfigMap, and finds its entry by POD_NAME.
				{Name: "DESKGATE_ACCESS_CONFIG", Value: AccessMountPath + "/" + desktop.AccessConfigKey},
			},
			Ports: []corev1.ContainerPort{
				{Name: "gateway", ContainerPort: desktop.GatewayPort, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP},
			},
			ReadinessProbe: probe("/readyz", 5),
			LivenessProbe:  probe("/healthz", 10),
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				RunAsNonRoot:             ptr.To(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: homeVolume, MountPath: HomeMountPath},
				{Name: "secret", MountPath: SecretMountPath, ReadOnly: true},
				{Name: "access", MountPath: AccessMountPath, ReadOnly: true},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				// Files are root's, group fsGroup: the desktop user reads them
				// through the group.
				SecretName: desktop.SecretName(b.Set.Name), DefaultMode: ptr.To(int32(0o440)),
			}}},
			{Name: "access", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{
					Name: desktop.AccessConfigMapName(b.Set.Name),
				},
				Optional: ptr.To(true),
			}}},
		},
	}
}

func resources(r config.Resources) (corev1.ResourceRequirements, error) {
	parse := func(in map[string]string) (corev1.ResourceList, error) {
		if len(in) == 0 {
			return nil, nil
		}
		out := corev1.ResourceList{}
		for k, v := range in {
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return nil, fmt.Errorf("resources.%s: %w", k, err)
			}
			out[corev1.ResourceName(k)] = q
		}
		return out, nil
	}
	req, err := parse(r.Requests)
	if err != nil {
		return corev1.ResourceRequirements{}, err
	}
	lim, err := parse(r.Limits)
	if err != nil {
		return corev1.ResourceRequirements{}, err
	}
	return corev1.ResourceRequirements{Requests: req, Limits: lim}, nil
}

// NetworkPolicy admits traffic to the gateway port only, from anywhere but
// another desktop of the set, and lets desktops reach anything but one
// another.
func (b *Builder) NetworkPolicy() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   typeMeta("networking.k8s.io/v1", "NetworkPolicy"),
		ObjectMeta: b.meta(b.Set.Name, nil),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: b.podSelector()},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{
					Protocol: ptr.To(corev1.ProtocolTCP),
					Port:     ptr.To(intstr.FromInt32(desktop.GatewayPort)),
				}},
				From: b.othersThanDesktops(),
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: b.othersThanDesktops()}},
		},
	}
}

// othersThanDesktops selects every peer but the set's desktops: pods of
// other namespaces, pods of this one outside the set, and addresses
// outside the cluster.
func (b *Builder) othersThanDesktops() []networkingv1.NetworkPolicyPeer {
	notIn := func(key, value string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: key, Operator: metav1.LabelSelectorOpNotIn, Values: []string{value},
		}}}
	}
	return []networkingv1.NetworkPolicyPeer{
		{NamespaceSelector: notIn("kubernetes.io/metadata.name", b.Set.Namespace)},
		{PodSelector: notIn(desktop.LabelSet, b.Set.Name)},
		// TODO: some network plugins match pod addresses against ipBlock too,
		// which would let desktops reach one another; the cluster's pod CIDR
		// is not known here to put in an except list.
		{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "::/0"}},
	}
}

// Secrets returns the Secret every desktop pod mounts, holding for each
// desktop its VNC password (key: the pod name) and the digest of its
// local-access secret (key: pod name + ".local"), and the Secret no pod
// mounts, holding the local-access secrets themselves (key: the pod name).
// A desktop's user can read the mounted Secret, and a digest does not open
// any desktop. Values already in the cluster are kept; newSecret makes the
// missing ones.
func (b *Builder) Secrets(desktops []desktop.Desktop, mounted, local map[string][]byte,
	newSecret func() ([]byte, error)) (*corev1.Secret, *corev1.Secret, error) {
	keep := func(existing map[string][]byte, key string) ([]byte, error) {
		if v := existing[key]; len(v) > 0 {
			return v, nil
		}
		return newSecret()
	}
	mountedData, localData := map[string][]byte{}, map[string][]byte{}
	for _, d := range desktops {
		password, err := keep(mounted, d.Pod)
		if err != nil {
			return nil, nil, err
		}
		secret, err := keep(local, d.Pod)
		if err != nil {
			return nil, nil, err
		}
		mountedData[d.Pod] = password
		mountedData[d.Pod+".local"] = []byte(gateway.LocalSecretDigest(string(secret)))
		localData[d.Pod] = secret
	}
	return b.secret(desktop.SecretName(b.Set.Name), mountedData),
		b.secret(desktop.LocalAccessSecretName(b.Set.Name), localData), nil
}

func (b *Builder) secret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   typeMeta("v1", "Secret"),
		ObjectMeta: b.meta(name, nil),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// DesktopService selects one desktop's pod.
func (b *Builder) DesktopService(d desktop.Desktop, users []string) *corev1.Service {
	m := b.meta(d.ServiceName(), b.Set.Labels(d))
	m.Labels[desktop.LabelComponent] = "desktop"
	if len(users) > 0 {
		m.Annotations = map[string]string{desktop.AnnotationUsers: strings.Join(users, ",")}
	}
	return &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: m,
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{desktop.LabelPodName: d.Pod},
			Ports:    []corev1.ServicePort{gatewayServicePort()},
		},
	}
}

// Ingress exposes one desktop on its host through its ALB group.
func (b *Builder) Ingress(d desktop.Desktop) *networkingv1.Ingress {
	alb := b.Config.Expose.ALB
	ann := map[string]string{
		AnnGroupName:    d.Group,
		AnnScheme:       "internet-facing",
		AnnTargetType:   "ip",
		AnnListenPorts:  `[{"HTTPS":443}]`,
		AnnHealthcheck:  "/healthz",
		AnnLBAttributes: "idle_timeout.timeout_seconds=" + strconv.Itoa(alb.IdleTimeoutSeconds),
	}
	if alb.CertificateARN != "" {
		ann[AnnCertificateARN] = alb.CertificateARN
	}
	if len(b.InboundCIDRs) > 0 {
		ann[AnnInboundCIDRs] = strings.Join(b.InboundCIDRs, ",")
	}
	m := b.meta(d.ServiceName(), b.Set.Labels(d))
	m.Annotations = ann
	return &networkingv1.Ingress{
		TypeMeta:   typeMeta("networking.k8s.io/v1", "Ingress"),
		ObjectMeta: m,
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To(b.Config.Expose.IngressClass),
			Rules: []networkingv1.IngressRule{{
				Host: d.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: d.ServiceName(),
							Port: networkingv1.ServiceBackendPort{Name: "gateway"},
						}},
					}},
				}},
			}},
		},
	}
}

// AccessConfigMap carries the gateway configuration of the set.
func (b *Builder) AccessConfigMap(data string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   typeMeta("v1", "ConfigMap"),
		ObjectMeta: b.meta(desktop.AccessConfigMapName(b.Set.Name), nil),
		Data:       map[string]string{desktop.AccessConfigKey: data},
	}
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}
