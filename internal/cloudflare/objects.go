package cloudflare

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/deskctl/deskctl/internal/desktop"
)

// Components of the cluster objects this backend writes.
const (
	componentGateway     = "gateway-config"
	componentCloudflared = "cloudflared"
	// TunnelTokenKey is the key of the tunnel token in its Secret.
	TunnelTokenKey = "token"
	// cloudflaredReplicas keeps the tunnel up while one pod restarts.
	cloudflaredReplicas = 2
	cloudflaredMetrics  = 2000

	// AnnotationTunnelID on the tunnel Secret names the tunnel whose
	// token it holds.
	AnnotationTunnelID = "deskctl.io/tunnel-id"
	// AnnotationSpecHash on the cloudflared Deployment is a hash of the
	// spec deskctl wrote, to tell whether it must be applied again.
	AnnotationSpecHash = "deskctl.io/spec-hash"
)

func tunnelSecretName(set string) string { return set + "-tunnel" }
func cloudflaredName(set string) string  { return set + "-cloudflared" }

func (b *Backend) labels(component string) map[string]string {
	l := desktop.SelectorLabels(b.cfg.Name)
	l[desktop.LabelComponent] = component
	return l
}

// configMap is the gateway ConfigMap holding the Access configuration; nil
// content gives the bare object, enough to delete it.
func (b *Backend) configMap(c *desktop.AccessConfig) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: desktop.AccessConfigMapName(b.cfg.Name),
			Namespace: b.cfg.Namespace, Labels: b.labels(componentGateway)},
	}
	if c != nil {
		data, _ := json.MarshalIndent(c, "", "  ")
		cm.Data = map[string]string{desktop.AccessConfigKey: string(data)}
	}
	return cm
}

// tunnelSecret holds the token of a tunnel, which cloudflared runs with.
func (b *Backend) tunnelSecret(tunnelID, token string) *corev1.Secret {
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: tunnelSecretName(b.cfg.Name),
			Namespace: b.cfg.Namespace, Labels: b.labels(componentCloudflared)},
		Type: corev1.SecretTypeOpaque,
	}
	if token != "" {
		s.Annotations = map[string]string{AnnotationTunnelID: tunnelID}
		s.Data = map[string][]byte{TunnelTokenKey: []byte(token)}
	}
	return s
}

// specHash is a short hash of an object's JSON.
func specHash(v any) string {
	data, _ := json.Marshal(v)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:12])
}

// cloudflared is the Deployment that runs the tunnel. cloudflared reads
// the token of `tunnel run` from TUNNEL_TOKEN, so it never shows in the
// pod's command line.
func (b *Backend) cloudflared() *appsv1.Deployment {
	labels := b.labels(componentCloudflared)
	replicas := int32(cloudflaredReplicas)
	yes, no := true, false
	uid := int64(65532)
	d := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: cloudflaredName(b.cfg.Name),
			Namespace: b.cfg.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: &no,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   &yes,
						RunAsUser:      &uid,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:  "cloudflared",
						Image: b.cfg.Cloudflare.Tunnel.Image,
						Args: []string{"tunnel", "--no-autoupdate",
							"--metrics", "0.0.0.0:2000", "run"},
						Env: []corev1.EnvVar{{Name: "TUNNEL_TOKEN", ValueFrom: &corev1.EnvVarSource{
							SecretKeyRef: &corev1.SecretKeySelector{
								LocalObjectReference: corev1.LocalObjectReference{
									Name: tunnelSecretName(b.cfg.Name)},
								Key: TunnelTokenKey}}}},
						Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: cloudflaredMetrics}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
							HTTPGet: &corev1.HTTPGetAction{Path: "/ready",
								Port: intOrString(cloudflaredMetrics)}}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("50m"),
								corev1.ResourceMemory: resource.MustParse("64Mi")},
							Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: &no,
							ReadOnlyRootFilesystem:   &yes,
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	d.Annotations = map[string]string{AnnotationSpecHash: specHash(d.Spec)}
	return d
}
