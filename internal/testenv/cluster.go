// Package testenv runs a real local Kubernetes control plane for tests and
// the demo: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// built from Go modules, and kwok for fake nodes whose pods become Running
// and Ready. Everything listens on loopback ports chosen at start.
//
// It needs Linux: it reads process liveness from /proc, and attached
// components die with their parent through the parent-death signal.
package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure Start.
type Options struct {
	// Dir holds the cluster's state: data, keys, logs, kubeconfig. It is
	// created if missing. Required.
	Dir string
	// Nodes is the number of fake nodes; 0 means 2.
	Nodes int
	// PodsPerNode is each node's allocatable pods; 0 means 500.
	PodsPerNode int
	// Detach starts the processes in their own sessions, so that they
	// outlive the caller. Stop them later through Attach and Stop.
	Detach bool
	// Log receives progress messages. Nil discards them.
	Log io.Writer
	// ToolsModule is the tools module's directory; see ToolsOptions.
	ToolsModule string
}

// Cluster is a running local control plane.
type Cluster struct {
	dir        string
	kubeconfig string
	auditLog   string
	server     string
	caCert     []byte
	token      string
	components []*component

	stopOnce sync.Once
	stopErr  error
}

// state is what a detached cluster leaves in its directory for Attach.
type state struct {
	Server     string       `json:"server"`
	Kubeconfig string       `json:"kubeconfig"`
	AuditLog   string       `json:"auditLog"`
	Components []*component `json:"components"`
}

const stateFile = "state.json"

// Start builds the control plane if needed, starts it and returns once
// /readyz is ok and every fake node is Ready and schedulable. On error,
// everything it started is stopped again.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("testenv: Options.Dir is required")
	}
	if opts.Nodes == 0 {
		opts.Nodes = 2
	}
	if opts.PodsPerNode == 0 {
		opts.PodsPerNode = 500
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}

	tools, err := BuildTools(ctx, ToolsOptions{Module: opts.ToolsModule, Log: log})
	if err != nil {
		return nil, err
	}

	started := time.Now()
	keys, err := writePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("testenv: write keys: %w", err)
	}
	// The ports are free when chosen but may be taken before a component
	// binds them, by another cluster starting at the same time: try anew.
	var c *Cluster
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(5)
		if err != nil {
			return nil, err
		}
		c = &Cluster{
			dir:        dir,
			kubeconfig: filepath.Join(dir, "kubeconfig"),
			auditLog:   filepath.Join(dir, "logs", "audit.log"),
			server:     "https://127.0.0.1:" + strconv.Itoa(ports[2]),
			caCert:     keys.caCert,
			token:      keys.tokens[AdminUser],
		}
		err = c.boot(ctx, opts, tools, keys, ports)
		if err == nil {
			break
		}
		_ = c.Stop()
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		fmt.Fprintf(log, "testenv: a port was taken, starting again: %v\n", err)
		if err := os.RemoveAll(filepath.Join(dir, "etcd")); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(log, "testenv: control plane ready at %s in %s (kubeconfig %s)\n",
		c.server, time.Since(started).Round(100*time.Millisecond), c.kubeconfig)
	return c, nil
}

// boot starts each component in order and waits for the cluster to be
// usable.
func (c *Cluster) boot(ctx context.Context, opts Options, tools *Tools, keys *pki, ports []int) error {
	etcdClient, etcdPeer, apiPort, managerPort, schedulerPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	kubeconfigs := map[string]string{}
	for user, token := range keys.tokens {
		path := c.kubeconfig
		if user != AdminUser {
			path = filepath.Join(c.dir, "pki", strings.ReplaceAll(user, ":", "-")+".kubeconfig")
		}
		if err := writeKubeconfig(path, c.server, keys.caCert, user, token); err != nil {
			return err
		}
		kubeconfigs[user] = path
	}
	auditPolicy := filepath.Join(c.dir, "pki", "audit-policy.yaml")
	if err := os.WriteFile(auditPolicy, []byte(auditPolicyYAML), 0o644); err != nil {
		return err
	}

	// etcd first: the API server fails without it.
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	if err := c.run(opts.Detach, tools, "etcd",
		"--name=default",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	); err != nil {
		return err
	}
	if err := c.waitFor(ctx, 2*time.Minute, "etcd health", func(ctx context.Context) error {
		return etcdHealthy(ctx, etcdURL)
	}); err != nil {
		return err
	}

	if err := c.run(opts.Detach, tools, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+keys.servingCrt,
		"--tls-private-key-file="+keys.servingKey,
		"--token-auth-file="+keys.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+keys.saPub,
		"--service-account-signing-key-file="+keys.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--max-requests-inflight=800",
		"--max-mutating-requests-inflight=400",
		"--audit-policy-file="+auditPolicy,
		"--audit-log-path="+c.auditLog,
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=1024",
		"--profiling=false",
	); err != nil {
		return err
	}
	if err := c.waitFor(ctx, 3*time.Minute, "kube-apiserver /readyz", c.ready); err != nil {
		return err
	}

	schedulerConfig := filepath.Join(c.dir, "pki", "scheduler.yaml")
	if err := os.WriteFile(schedulerConfig, []byte(fmt.Sprintf(schedulerConfigYAML,
		kubeconfigs[schedulerUser])), 0o644); err != nil {
		return err
	}
	args := map[string][]string{
		"kube-controller-manager": {
			"--kubeconfig=" + kubeconfigs[managerUser],
			"--controllers=" + strings.Join(controllers, ","),
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(managerPort),
			"--cert-dir=" + filepath.Join(c.dir, "kube-controller-manager"),
			"--service-account-private-key-file=" + keys.saKey,
			"--root-ca-file=" + keys.caFile,
			"--kube-api-qps=500",
			"--kube-api-burst=1000",
			"--node-monitor-grace-period=2m",
			"--pvclaimbinder-sync-period=2s",
		},
		"kube-scheduler": {
			"--config=" + schedulerConfig,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(schedulerPort),
			"--cert-dir=" + filepath.Join(c.dir, "kube-scheduler"),
		},
		"kwok": kwokArgs(kubeconfigs[kwokUser], tools.Stages),
	}
	args["provisioner"] = []string{
		"--kubeconfig=" + kubeconfigs[provisionerUser],
		"--class=" + StorageClass,
		"--provisioner=" + provisionerName,
		"--path=" + filepath.Join(c.dir, "volumes"),
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok", "provisioner"} {
		if err := c.run(opts.Detach, tools, name, args[name]...); err != nil {
			return err
		}
	}

	// Objects the components cannot create themselves.
	setup, err := c.clientFor(keys.tokens[setupUser])
	if err != nil {
		return err
	}
	if err := createStorageClass(ctx, setup); err != nil {
		return err
	}
	if err := createNodes(ctx, setup, opts.Nodes, opts.PodsPerNode); err != nil {
		return err
	}
	if err := c.waitFor(ctx, 3*time.Minute, "fake nodes Ready", func(ctx context.Context) error {
		return nodesReady(ctx, setup, opts.Nodes)
	}); err != nil {
		return err
	}
	return c.saveState()
}

// controllers are the kube-controller-manager loops the tests rely on.
// nodelifecycle lifts the not-ready taint from fake nodes; the protection
// controllers let claims and volumes be deleted.
var controllers = []string{
	"statefulset", "deployment", "replicaset", "endpointslice", "garbagecollector",
	"namespace", "serviceaccount", "serviceaccount-token", "root-ca-cert-publisher",
	"persistentvolume-binder", "pvc-protection", "pv-protection", "nodelifecycle",
	"clusterrole-aggregation",
}

// kwokArgs make kwok manage the fake nodes that createNodes makes, with
// leases as heartbeats and the stage files as its behaviour.
func kwokArgs(kubeconfig string, stages []string) []string {
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + fakeNodeAnnotation + "=fake",
		"--node-lease-duration-seconds=40",
		"--node-ip=127.0.0.1",
	}
	for _, s := range stages {
		args = append(args, "--config="+s)
	}
	return args
}

const auditPolicyYAML = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ["` + AdminUser + `"]
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`

const schedulerConfigYAML = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 500
  burst: 1000
leaderElection:
  leaderElect: false
`

// run starts one component with its log under the cluster's directory and
// records it.
func (c *Cluster) run(detach bool, tools *Tools, name string, args ...string) error {
	logPath := filepath.Join(c.dir, "logs", name+".log")
	comp, err := spawn(name, tools.Bin[name], args, logPath, detach)
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	c.components = append(c.components, comp)
	return nil
}

// waitFor polls check until it succeeds, a component exits, or timeout.
func (c *Cluster) waitFor(ctx context.Context, timeout time.Duration, what string,
	check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		for _, comp := range c.components {
			if !comp.alive() {
				return fmt.Errorf("testenv: %s exited while waiting for %s; end of %s:\n%s",
					comp.Name, what, comp.Log, logTail(comp.Log, 20))
			}
		}
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(callCtx)
		callCancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ready asks the API server's /readyz.
func (c *Cluster) ready(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(body)))
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("readyz says %q", body)
	}
	return nil
}

// etcdHealthy asks etcd's /health endpoint.
func etcdHealthy(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var health struct{ Health string }
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
		return err
	}
	if health.Health != "true" {
		return fmt.Errorf("etcd health is %q", health.Health)
	}
	return nil
}

// Kubeconfig returns the path of a kubeconfig with admin credentials, usable
// by client-go and kubectl alike.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Dir returns the cluster's state directory, which holds the component logs
// under logs/.
func (c *Cluster) Dir() string { return c.dir }

// Server returns the API server's URL.
func (c *Cluster) Server() string { return c.server }

// RESTConfig returns a config for the admin user. Its client-side rate limit
// is high enough for a thousand desktops.
func (c *Cluster) RESTConfig() *rest.Config {
	return c.configFor(c.token)
}

// Client returns a clientset for the admin user.
func (c *Cluster) Client() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(c.RESTConfig())
}

func (c *Cluster) configFor(token string) *rest.Config {
	return &rest.Config{
		Host:            c.server,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.caCert},
		QPS:             500,
		Burst:           1000,
		UserAgent:       "deskctl-testenv",
	}
}

func (c *Cluster) clientFor(token string) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(c.configFor(token))
}

// Kubectl returns a command that runs kubectl (DESKCTL_KUBECTL, else the one
// on PATH) against the cluster as admin.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) *exec.Cmd {
	bin := os.Getenv("DESKCTL_KUBECTL")
	if bin == "" {
		bin = "kubectl"
	}
	return exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
}

// PIDs returns the process IDs of the components, each the leader of its
// own process group.
func (c *Cluster) PIDs() []int {
	pids := make([]int, 0, len(c.components))
	for _, comp := range c.components {
		pids = append(pids, comp.PID)
	}
	return pids
}

// Healthy reports whether every recorded process still runs and /readyz is
// ok.
func (c *Cluster) Healthy(ctx context.Context) error {
	for _, comp := range c.components {
		if !comp.alive() {
			return fmt.Errorf("%s (pid %d) is not running", comp.Name, comp.PID)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.ready(ctx)
}

// Stop ends every process of the cluster, by the recorded process groups,
// and returns once none is left. It keeps the state directory but forgets
// the cluster there. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		// The data is thrown away, so there is nothing to shut down
		// gracefully for: the API server alone would take over 10 s.
		c.stopErr = stopComponents(c.components, time.Second)
		if c.stopErr == nil {
			_ = os.Remove(filepath.Join(c.dir, stateFile))
		}
	})
	return c.stopErr
}

// saveState records what Attach needs to find the cluster again.
func (c *Cluster) saveState() error {
	data, err := json.MarshalIndent(state{
		Server:     c.server,
		Kubeconfig: c.kubeconfig,
		AuditLog:   c.auditLog,
		Components: c.components,
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, stateFile), data, 0o600)
}

// ErrNoCluster means that a directory holds no recorded cluster.
var ErrNoCluster = errors.New("no cluster recorded")

// Attach finds the cluster that a detached Start recorded in dir. The
// processes may have died since; Healthy tells.
func Attach(dir string) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoCluster)
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("read %s: %w", stateFile, err)
	}

	// The admin's token and CA come from the kubeconfig.
	kc, err := clientcmd.LoadFromFile(st.Kubeconfig)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, kubeconfig: st.Kubeconfig, auditLog: st.AuditLog,
		server: st.Server, components: st.Components}
	for _, cl := range kc.Clusters {
		c.caCert = cl.CertificateAuthorityData
	}
	for _, u := range kc.AuthInfos {
		c.token = u.Token
	}
	return c, nil
}

// writeKubeconfig writes a kubeconfig for one token user.
func writeKubeconfig(path, server string, ca []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["deskctl-local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["deskctl-local"] = &clientcmdapi.Context{Cluster: "deskctl-local", AuthInfo: user}
	cfg.CurrentContext = "deskctl-local"
	return clientcmd.WriteToFile(*cfg, path)
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testenv: find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
