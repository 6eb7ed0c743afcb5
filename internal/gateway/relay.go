package gateway

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/deskctl/deskctl/pkg/rfb"
)

const (
	// dialTimeout bounds connecting to the VNC server.
	dialTimeout = 5 * time.Second
	// handshakeTimeout bounds each RFB handshake.
	handshakeTimeout = 10 * time.Second

	// toViewerBuf sizes the reads from the VNC server on the portable path.
	toViewerBuf = 32 << 10
	// maxFrame bounds one websocket frame toward the viewer.
	maxFrame = 1 << 20
	// toVNCBuf sizes the reads from the viewer: input events and clipboard.
	toVNCBuf = 2 << 10
)

var viewerBufs = sync.Pool{New: func() any { b := make([]byte, toViewerBuf); return &b }}

// serveWebsocket relays one viewer session. The VNC server is dialled and
// authenticated before the upgrade, so a failure there is an HTTP error, and
// the viewer is offered security type None only.
func (s *Server) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	log := s.log.With("desktop", s.policy.Load().name, "pod", s.cfg.Desktop,
		"email", id.logName(), "remote", r.RemoteAddr)

	// Connect and authenticate to the VNC server.
	vnc, err := s.dialVNC(r.Context())
	if err != nil {
		s.metrics.sessionsTotal.WithLabelValues(errorStage(err)).Inc()
		log.Error("session not started", "err", err)
		http.Error(w, "the desktop's VNC server is not available", http.StatusBadGateway)
		return
	}
	defer vnc.Close()

	// Upgrade, then speak RFB to the viewer. The hijacked connection is
	// kept so that bulk data can bypass the websocket library's copies.
	hw := &hijackCapture{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
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
	st := s.relay(ctx, cancel, ws, viewer, hw.conn, vnc)
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
// one side ends or a ping goes unanswered; then it closes both sides and
// waits for both copies to return.
func (s *Server) relay(ctx context.Context, cancel context.CancelFunc, ws *websocket.Conn,
	viewer net.Conn, raw *frameConn, vnc *net.TCPConn) *sessionStats {
	st := &sessionStats{}
	ended := make(chan string, 2)

	// VNC server to viewer, the bulk of the traffic.
	go func() {
		add := s.metrics.relayBytes.WithLabelValues(toViewer).Add
		err := copyToViewer(viewer, raw, vnc, &st.toViewer, add)
		ended <- "vnc:" + endReason(err)
	}()

	// Viewer to VNC server.
	go func() {
		err := copyCounted(vnc, viewer, make([]byte, toVNCBuf), &st.toVNC,
			s.metrics.relayBytes.WithLabelValues(toVNC).Add)
		ended <- "viewer:" + endReason(err)
	}()

	// Keepalive, on this goroutine: a ping every interval keeps ALB and
	// Cloudflare from cutting an idle session, and a missing pong ends a
	// dead one. The first side to end closes both: a close frame to the
	// viewer and a closed socket to the VNC server.
	tick := time.NewTicker(s.cfg.Keepalive)
	defer tick.Stop()
	running := 2
wait:
	for {
		select {
		case st.endedBy = <-ended:
			running--
			break wait
		case <-ctx.Done():
			st.endedBy = "shutdown"
			break wait
		case <-tick.C:
			pctx, pcancel := context.WithTimeout(ctx, s.cfg.Keepalive)
			err := ws.Ping(pctx)
			pcancel()
			if err != nil {
				st.endedBy = "keepalive: " + err.Error()
				break wait
			}
		}
	}
	_ = vnc.Close()
	_ = ws.Close(websocket.StatusNormalClosure, "session ended")
	cancel()
	for ; running > 0; running-- {
		<-ended
	}
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

// copyPooled relays the VNC server's bytes through the websocket library,
// with a buffer taken from a pool for each burst. It is the portable path.
func copyPooled(viewer net.Conn, vnc *net.TCPConn, n *atomic.Int64, add func(float64)) error {
	bp := viewerBufs.Get().(*[]byte)
	defer viewerBufs.Put(bp)
	return copyCounted(viewer, vnc, *bp, n, add)
}

// hijackCapture hands the websocket library a connection whose writes are
// serialised by frameConn's lock, and keeps it for the relay's own frames.
type hijackCapture struct {
	http.ResponseWriter
	conn *frameConn
}

// Hijack takes over the connection and wraps it.
func (h *hijackCapture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &frameConn{Conn: c}
	// The library writes control frames and, on the portable path, data
	// frames larger than any buffer, which bufio passes straight through.
	return h.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(h.conn, 512)), nil
}

// frameConn is the viewer's connection. Every write takes the lock, so a
// control frame from the websocket library (ping, close) never lands inside
// a data frame that the relay writes itself while holding the lock. The
// library's control frames fit its buffer and arrive as one write each.
type frameConn struct {
	net.Conn
	mu sync.Mutex
}

func (c *frameConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// frameHeader returns the header of an unmasked, final, binary websocket
// frame of n payload bytes.
func frameHeader(b []byte, n int) []byte {
	b = append(b[:0], 0x82)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
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
