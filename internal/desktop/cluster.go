package desktop

// ClusterState is what the cluster knows that the other backends need: it
// is read by the cluster backend with a constant number of list calls.
type ClusterState struct {
	// ClusterID identifies the cluster (the UID of its kube-system
	// namespace), for ownership markers on outside objects.
	ClusterID string

	// LoadBalancers maps an ALB group to the hostname its Ingresses report
	// in their status. A group without an address is absent.
	LoadBalancers map[string]string

	// Users maps a desktop name to the emails assigned to it.
	Users map[string][]string

	// Access is the current content of the set's gateway ConfigMap, nil
	// when there is none.
	Access *AccessConfig
}

// AccessConfigMapName is the name of the set's gateway ConfigMap.
func AccessConfigMapName(set string) string { return set + "-access" }

// SecretName is the name of the set's Secret that every desktop pod
// mounts: VNC passwords, and digests of the local-access secrets.
func SecretName(set string) string { return set + "-desktops" }

// LocalAccessSecretName is the name of the set's Secret with the
// local-access secrets themselves. No pod mounts it: only administrators
// read it, through deskctl open --local.
func LocalAccessSecretName(set string) string { return set + "-local-access" }

// ServiceName is the name of a desktop's own Service (the pod's name).
func (d Desktop) ServiceName() string { return d.Pod }

// AnnotationUsers on a desktop's Service lists the emails assigned to it,
// comma-separated. The cluster keeps the assignment; nothing else does.
const AnnotationUsers = "deskctl.io/users"

// GatewayPort is the port deskgate serves on in every desktop pod.
const GatewayPort = 8080
