package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// KubernetesVersion is the release of the control plane that the tools
// module builds. The API server reports it as its version.
const KubernetesVersion = "v1.37.2"

// toolsModuleRel is where the tools module sits inside the repository.
const toolsModuleRel = "internal/testenv/tools"

// toolPackages maps each binary name to the package that builds it, as seen
// from the tools module.
var toolPackages = []struct{ name, pkg string }{
	{"etcd", "./cmd/etcd"},
	{"kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"},
	{"kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager"},
	{"kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler"},
	{"kwok", "sigs.k8s.io/kwok/cmd/kwok"},
	{"provisioner", "./cmd/provisioner"},
}

// stageDirs are kwok's stage sets, relative to the kwok module, that make
// fake nodes Ready and fake pods Running and Ready. Claims are bound by the
// provisioner command instead of kwok's volume stages, which handle one
// claim at a time.
var stageDirs = []string{
	"kustomize/stage/node/fast",
	"kustomize/stage/node/heartbeat",
	"kustomize/stage/pod/fast",
}

// Tools locates the built control-plane binaries and kwok's stage files.
type Tools struct {
	// Dir is the cache directory that holds everything below.
	Dir string
	// Bin maps a binary name (etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler, kwok, provisioner) to its path.
	Bin map[string]string
	// Stages are kwok's stage files.
	Stages []string
}

// ToolsOptions says where the tools module is and where progress goes.
type ToolsOptions struct {
	// Module is the tools module's directory. Empty means
	// internal/testenv/tools of the repository that holds the working
	// directory.
	Module string
	// Log receives progress and the compiler's output. Nil discards it.
	Log io.Writer
}

// BuildTools builds the control plane once into a cache directory keyed by
// the tools module's go.sum and the Go version, and returns where the
// binaries are. Concurrent callers, also in other processes, wait for one
// build instead of starting their own.
func BuildTools(ctx context.Context, opts ToolsOptions) (*Tools, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}

	module := opts.Module
	if module == "" {
		var err error
		module, err = findToolsModule(ctx)
		if err != nil {
			return nil, err
		}
	}

	goBin, err := goCommand()
	if err != nil {
		return nil, err
	}
	key, err := toolsKey(ctx, goBin, module)
	if err != nil {
		return nil, err
	}

	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("find a cache directory for the control-plane binaries: %w", err)
	}
	base := filepath.Join(cacheRoot, "deskctl", "tools")
	dir := filepath.Join(base, key)
	if tools, err := loadTools(dir); err == nil {
		return tools, nil
	}

	// One build at a time per key, across processes: go test runs several
	// test binaries at once, and each may want a cluster.
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("create tools cache: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(base, key+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if tools, err := loadTools(dir); err == nil {
		return tools, nil
	}

	fmt.Fprintf(log, "testenv: building the control plane %s into %s "+
		"(a cold build takes about 10 minutes on 2 cores)\n", KubernetesVersion, dir)
	start := time.Now()
	tmp, err := os.MkdirTemp(base, key+".build-")
	if err != nil {
		return nil, fmt.Errorf("create build directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	if err := compileTools(ctx, goBin, module, filepath.Join(tmp, "bin"), log); err != nil {
		return nil, err
	}
	if err := copyStages(ctx, goBin, module, tmp); err != nil {
		return nil, err
	}

	// The rename publishes the finished directory in one step.
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("publish tools cache: %w", err)
	}
	fmt.Fprintf(log, "testenv: built the control plane in %s\n", time.Since(start).Round(time.Second))
	return loadTools(dir)
}

// compileTools runs one go build for every binary, so the packages they
// share are compiled once.
func compileTools(ctx context.Context, goBin, module, out string, log io.Writer) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-trimpath", "-ldflags", toolsLDFlags(), "-o", out + string(filepath.Separator)}
	for _, p := range toolPackages {
		args = append(args, p.pkg)
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the control plane in %s: %w", module, err)
	}
	return nil
}

// toolsLDFlags strips the binaries and stamps the Kubernetes version, which
// the server otherwise reports as v0.0.0-master.
func toolsLDFlags() string {
	minor := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")[1]
	var b strings.Builder
	b.WriteString("-s -w")
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		fmt.Fprintf(&b, " -X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean",
			pkg, KubernetesVersion, pkg, pkg, minor, pkg)
	}
	return b.String()
}

// copyStages copies kwok's stage files out of the module cache next to the
// binaries.
func copyStages(ctx context.Context, goBin, module, dest string) error {
	cmd := exec.CommandContext(ctx, goBin, "list", "-m", "-json", "sigs.k8s.io/kwok")
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("locate the kwok module: %w", describeExit(err))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("locate the kwok module: no directory in %q", out)
	}

	stages := filepath.Join(dest, "stages")
	if err := os.MkdirAll(stages, 0o755); err != nil {
		return err
	}
	for _, sub := range stageDirs {
		files, err := filepath.Glob(filepath.Join(mod.Dir, sub, "*.yaml"))
		if err != nil {
			return err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if !bytes.Contains(data, []byte("\nkind: Stage\n")) {
				continue
			}
			if err := os.WriteFile(filepath.Join(stages, filepath.Base(f)), data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadTools returns the tools in a finished cache directory, or an error
// when any part is missing.
func loadTools(dir string) (*Tools, error) {
	tools := &Tools{Dir: dir, Bin: map[string]string{}}
	for _, p := range toolPackages {
		path := filepath.Join(dir, "bin", p.name)
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
		tools.Bin[p.name] = path
	}
	stages, err := filepath.Glob(filepath.Join(dir, "stages", "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no kwok stages in %s", dir)
	}
	tools.Stages = stages
	return tools, nil
}

// toolsKey hashes what decides the binaries: the tools module's go.mod,
// go.sum and own commands, the Go version and the link flags.
func toolsKey(ctx context.Context, goBin, module string) (string, error) {
	sources, err := filepath.Glob(filepath.Join(module, "cmd", "*", "*.go"))
	if err != nil {
		return "", err
	}
	names := []string{"go.mod", "go.sum"}
	for _, src := range sources {
		rel, err := filepath.Rel(module, src)
		if err != nil {
			return "", err
		}
		names = append(names, filepath.ToSlash(rel))
	}

	h := sha256.New()
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(module, name))
		if err != nil {
			return "", fmt.Errorf("read the tools module: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}

	cmd := exec.CommandContext(ctx, goBin, "env", "GOVERSION")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("ask go for its version: %w", describeExit(err))
	}
	fmt.Fprintf(h, "go %s\nldflags %s\n", bytes.TrimSpace(out), toolsLDFlags())
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// findToolsModule finds the tools module of the repository that holds the
// working directory, or the one named by DESKCTL_TOOLS_MODULE.
func findToolsModule(ctx context.Context) (string, error) {
	if dir := os.Getenv("DESKCTL_TOOLS_MODULE"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot(ctx)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, toolsModuleRel), nil
}

// RepoRoot returns the root of the deskctl module that holds the working
// directory, else the one this package was compiled from.
func RepoRoot(ctx context.Context) (string, error) {
	root, err := moduleRootOfWorkdir(ctx)
	if err == nil && hasToolsModule(root) {
		return root, nil
	}

	// A test binary run from elsewhere still knows its source, unless it
	// was built with -trimpath.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		src := filepath.Join(filepath.Dir(file), "..", "..")
		if hasToolsModule(src) {
			return filepath.Clean(src), nil
		}
	}
	if err == nil {
		err = fmt.Errorf("%s has no tools module at %s", root, toolsModuleRel)
	}
	return "", err
}

func moduleRootOfWorkdir(ctx context.Context) (string, error) {
	goBin, err := goCommand()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, goBin, "env", "GOMOD")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", describeExit(err))
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("the working directory is not inside the deskctl module")
	}
	return filepath.Dir(gomod), nil
}

func hasToolsModule(root string) bool {
	_, err := os.Stat(filepath.Join(root, toolsModuleRel, "go.mod"))
	return err == nil
}

// goCommand finds the go command: the one on PATH, else the one of the
// toolchain that built this program.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("no go command on PATH: the control plane is built from source")
	}
	return p, nil
}

// lockFile takes an exclusive lock on path, waiting until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for another build of the control plane: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// describeExit adds a failed command's stderr to its error.
func describeExit(err error) error {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && len(exitErr.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(exitErr.Stderr))
	}
	return err
}
