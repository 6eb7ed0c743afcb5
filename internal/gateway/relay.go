package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/deskctl/deskctl/pkg/rfb"
)

const (
	// dialTimeout bounds connecting to the VNC server.
	dialTimeout = 5 * time.Second
	// handshakeTimeout bounds each RFB handshake.
	handshakeTimeout = 10 * time.Second

	// toViewerBuf sizes the reads from the VNC server, whose framebuffer
	// updates are the bulk of the traffic. Such buffers come from a pool and
	// are held only while data flows, so an idle session holds none.
	toViewerBuf = 64 << 10
	// toVNCBuf sizes the reads from the viewer: input events and clipboard.
	toVNCBuf = 2 << 10
)

var viewerBufs = sync.Pool{New: func() any { b := make([]byte, toViewerBuf); return &b }}

// serveWebsocket relays one viewer session. The VNC server is dialled and
// authenticated before the upgrade, so a failure there is an HTTP error, and
// the viewer is offered security type None only.
func (s *Server) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	log := s.log.With("desktop", s.cfg.Desktop, "email", id.logName(), "remote", r.RemoteAddr)

	// Connect and authenticate to the VNC server.
	vnc, err := s.dialVNC(r.Context())
	if err != nil {
		s.metrics.sessionsTotal.WithLabelValues(errorStage(err)).Inc()
		log.Error("session not started", "err", err)
		http.Error(w, "the desktop's VNC server is not available", http.StatusBadGateway)
		return
	}
	defer vnc.Close()

	// Upgrade, then speak RFB to the viewer.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:    []string{"binary"},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		s.metrics.sessionsTotal.WithLabelValues("upgrade").Inc()
		log.Info("session not started", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(s.baseCtx)
	defer cancel()
	viewer := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	defer viewer.Close()
	_ = viewer.SetDeadline(time.Now().Add(handshakeTimeout))
	if _, err := rfb.Accept(viewer); err != nil {
		s.metrics.sessionsTotal.WithLabelValues("viewer_handshake").Inc()
		log.Info("session not started", "err", err)
		ws.Close(websocket.StatusPolicyViolation, "RFB handshake failed")
		return
	}
	_ = viewer.SetDeadline(time.Time{})

	// Relay until either side ends.
	s.metrics.sessionsTotal.WithLabelValues("ok").Inc()
	s.metrics.sessionsActive.Inc()
	defer s.metrics.sessionsActive.Dec()
	log.Info("session started")
	start := time.Now()
	st := s.relay(ctx, cancel, ws, viewer, vnc)
	log.Info("session ended", "duration", time.Since(start).Round(time.Millisecond),
		"bytes_to_viewer", st.toViewer.Load(), "bytes_to_vnc", st.toVNC.Load(),
		"ended_by", st.endedBy)
}

// stageError marks where a session failed to start, as a metric label.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func errorStage(err error) string {
	var se *stageError
	if errors.As(err, &se) {
		return se.stage
	}
	return "error"
}

// dialVNC connects to the VNC server and completes its handshake with the
// password read from the file now.
func (s *Server) dialVNC(ctx context.Context) (*net.TCPConn, error) {
	var password []byte
	if s.cfg.VNCPasswordFile != "" {
		b, err := os.ReadFile(s.cfg.VNCPasswordFile)
		if err != nil {
			return nil, &stageError{"vnc_password", err}
		}
		password = []byte(strings.TrimRight(string(b), "\r\n"))
	}

	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", s.cfg.VNCAddr)
	if err != nil {
		return nil, &stageError{"vnc_dial", err}
	}
	conn := c.(*net.TCPConn)
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if _, err := rfb.Connect(conn, password); err != nil {
		conn.Close()
		return nil, &stageError{"vnc_handshake", err}
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// sessionStats are one session's counters.
type sessionStats struct {
	toViewer, toVNC atomic.Int64
	endedBy         string
}

// relay copies bytes both ways and pings the viewer every keepalive, until
// one side ends or a ping goes unanswered; then it closes both sides.
func (s *Server) relay(ctx context.Context, cancel context.CancelFunc, ws *websocket.Conn,
	viewer net.Conn, vnc *net.TCPConn) *sessionStats {
	st := &sessionStats{}
	ended := make(chan string, 3)

	// VNC server to viewer, the bulk of the traffic.
	go func() {
		err := s.copyToViewer(viewer, vnc, &st.toViewer)
		ended <- "vnc:" + endReason(err)
	}()

	// Viewer to VNC server.
	go func() {
		err := copyCounted(vnc, viewer, make([]byte, toVNCBuf), &st.toVNC,
			s.metrics.relayBytes.WithLabelValues(toVNC).Add)
		ended <- "viewer:" + endReason(err)
	}()

	// Keepalive: a ping every interval keeps ALB and Cloudflare from cutting
	// an idle session, and a missing pong ends a dead one.
	go func() {
		t := time.NewTicker(s.cfg.Keepalive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(ctx, s.cfg.Keepalive)
				err := ws.Ping(pctx)
				pcancel()
				if err != nil && ctx.Err() == nil {
					ended <- "keepalive:" + err.Error()
					return
				}
			}
		}
	}()

	// The first side to end closes both: a close frame to the viewer and a
	// closed socket to the VNC server.
	select {
	case st.endedBy = <-ended:
	case <-ctx.Done():
		st.endedBy = "shutdown"
	}
	_ = vnc.Close()
	_ = ws.Close(websocket.StatusNormalClosure, "session ended")
	cancel()
	<-ended
	return st
}

// endReason turns a copy's end into a short log value.
func endReason(err error) string {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return "closed"
	case errors.Is(err, net.ErrClosed):
		return "closed_by_peer_side"
	}
	if status := websocket.CloseStatus(err); status != -1 {
		return fmt.Sprintf("close_%d", status)
	}
	return err.Error()
}

// copyToViewer relays the VNC server's bytes. While the server is quiet it
// waits without holding a buffer; when bytes arrive it takes a pooled one.
func (s *Server) copyToViewer(viewer net.Conn, vnc *net.TCPConn, n *atomic.Int64) error {
	raw, err := vnc.SyscallConn()
	if err != nil {
		return err
	}
	add := s.metrics.relayBytes.WithLabelValues(toViewer).Add
	for {
		if err := waitReadable(raw); err != nil {
			return err
		}
		bp := viewerBufs.Get().(*[]byte)
		err := drain(viewer, vnc, *bp, n, add)
		viewerBufs.Put(bp)
		if err != nil {
			return err
		}
	}
}

// drain copies what the VNC server has ready, and keeps the buffer while
// reads fill it, returning once a read comes back short.
func drain(dst io.Writer, src io.Reader, buf []byte, n *atomic.Int64, add func(float64)) error {
	for {
		m, err := src.Read(buf)
		if m > 0 {
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return werr
			}
			n.Add(int64(m))
			add(float64(m))
		}
		if err != nil {
			return err
		}
		if m < len(buf) {
			return nil
		}
	}
}

// waitReadable blocks until the socket has bytes to read or is closed,
// without reading them.
func waitReadable(raw syscall.RawConn) error {
	var one [1]byte
	var sysErr error
	err := raw.Read(func(fd uintptr) bool {
		_, _, e := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if e == syscall.EAGAIN || e == syscall.EWOULDBLOCK {
			return false
		}
		if e != nil && e != syscall.EINTR {
			sysErr = e
		}
		return true
	})
	if err != nil {
		return err
	}
	return sysErr
}

// copyCounted copies src to dst through buf, counting the bytes.
func copyCounted(dst io.Writer, src io.Reader, buf []byte, n *atomic.Int64,
	add func(float64)) error {
	for {
		m, err := src.Read(buf)
		if m > 0 {
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return werr
			}
			n.Add(int64(m))
			add(float64(m))
		}
		if err != nil {
			return err
		}
	}
}
