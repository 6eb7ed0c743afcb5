//go:build !linux

package gateway

import (
	"net"
	"sync/atomic"
)

// copyToViewer relays the VNC server's bytes to the viewer through the
// websocket library.
func copyToViewer(viewer net.Conn, _ *frameConn, vnc *net.TCPConn, n *atomic.Int64,
	add func(float64)) error {
	return copyPooled(viewer, vnc, n, add)
}
