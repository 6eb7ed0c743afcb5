package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// PortForward forwards a free local port on 127.0.0.1 to port of pod
// through the API server, until ctx ends. ready receives the local port.
func PortForward(ctx context.Context, rc *rest.Config, ns, pod string, port int,
	ready func(local int), errOut io.Writer) error {
	transport, upgrader, err := spdy.RoundTripperFor(rc)
	if err != nil {
		return fmt.Errorf("port-forward: %w", err)
	}
	u, err := forwardURL(rc, ns, pod)
	if err != nil {
		return err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)

	stop := make(chan struct{})
	readyCh := make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"},
		[]string{fmt.Sprintf("0:%d", port)}, stop, readyCh, io.Discard, errOut)
	if err != nil {
		return fmt.Errorf("port-forward to %s/%s: %w", ns, pod, err)
	}

	errCh := make(chan error, 1)
	go func() { errCh <- fw.ForwardPorts() }()
	select {
	case <-readyCh:
	case err := <-errCh:
		return fmt.Errorf("port-forward to %s/%s: %w", ns, pod, err)
	case <-ctx.Done():
		close(stop)
		return ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		close(stop)
		return fmt.Errorf("port-forward to %s/%s: no local port", ns, pod)
	}
	ready(int(ports[0].Local))

	select {
	case <-ctx.Done():
		close(stop)
		<-errCh
		return nil
	case err := <-errCh:
		return err
	}
}

func forwardURL(rc *rest.Config, ns, pod string) (*url.URL, error) {
	base, _, err := rest.DefaultServerUrlFor(rc)
	if err != nil {
		return nil, fmt.Errorf("port-forward: %w", err)
	}
	base.Path = fmt.Sprintf("%s/api/v1/namespaces/%s/pods/%s/portforward",
		trimSlash(base.Path), ns, pod)
	return base, nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
