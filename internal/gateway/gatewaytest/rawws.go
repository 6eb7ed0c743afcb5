package gatewaytest

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// RawWebsocket is a minimal websocket client for measurements: binary
// messages only, with as little work per byte as the protocol allows, so
// that a benchmark measures the relay and not its own client. It reads the
// payload of unmasked server frames straight into the caller's buffer and
// masks its own frames with a zero key. Control frames from the server are
// skipped, except close, which ends reading. Discard drops payload in the
// kernel without copying it.
type RawWebsocket struct {
	conn net.Conn
	raw  syscall.RawConn
	br   *bufio.Reader
	// sink is what recv is given when the kernel drops payload; it is
	// never written to.
	sink []byte
	// left is what remains of the current frame's payload.
	left int64
	wbuf []byte
}

// DialRawWebsocket opens a websocket to rawURL (ws://host:port/path),
// asking for the "binary" subprotocol and sending header.
func DialRawWebsocket(rawURL string, header http.Header,
	timeout time.Duration) (*RawWebsocket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, timeout)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))

	// The upgrade request and its 101 answer.
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req, _ := http.NewRequest(http.MethodGet, "http://"+u.Host+u.RequestURI(), nil)
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Protocol", "binary")
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	// The smallest buffer: payload is read straight into the caller's
	// buffer or dropped in the kernel, never copied ahead.
	br := bufio.NewReaderSize(conn, 16)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("websocket upgrade: %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &RawWebsocket{conn: conn, raw: raw, br: br}, nil
}

// Read returns payload bytes of binary frames.
func (w *RawWebsocket) Read(p []byte) (int, error) {
	if err := w.nextFrame(); err != nil {
		return 0, err
	}
	if int64(len(p)) > w.left {
		p = p[:w.left]
	}
	m, err := w.br.Read(p)
	w.left -= int64(m)
	return m, err
}

// Discard reads n payload bytes and drops them. What is already buffered is
// dropped from the buffer; the rest is dropped by the kernel (recv with
// MSG_TRUNC), which does not copy it.
func (w *RawWebsocket) Discard(n int64) (int64, error) {
	if w.sink == nil {
		w.sink = make([]byte, 1<<20)
	}
	var done int64
	for done < n {
		if err := w.nextFrame(); err != nil {
			return done, err
		}
		want := min(w.left, n-done, int64(len(w.sink)))
		var k int
		var err error
		if b := w.br.Buffered(); b > 0 {
			k, err = w.br.Discard(int(min(want, int64(b))))
		} else {
			k, err = w.drop(int(want))
		}
		done += int64(k)
		w.left -= int64(k)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// drop lets the kernel discard up to n queued bytes, waiting for some.
func (w *RawWebsocket) drop(n int) (int, error) {
	var got int
	var sysErr error
	err := w.raw.Read(func(fd uintptr) bool {
		m, _, e := syscall.Recvfrom(int(fd), w.sink[:n], syscall.MSG_TRUNC|syscall.MSG_DONTWAIT)
		switch {
		case e == syscall.EAGAIN || e == syscall.EINTR:
			return false
		case e != nil:
			sysErr = e
		case m == 0:
			sysErr = io.EOF
		}
		got = m
		return true
	})
	if err != nil {
		return 0, err
	}
	return got, sysErr
}

// nextFrame reads frame headers until one with payload left to read.
func (w *RawWebsocket) nextFrame() error {
	for w.left == 0 {
		op, n, err := w.readHeader()
		if err != nil {
			return err
		}
		switch op {
		case 0x0, 0x2:
			w.left = n
		case 0x8:
			return io.EOF
		default:
			// Skip ping, pong and text payloads.
			if _, err := w.br.Discard(int(n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// readHeader reads one frame header and returns its opcode and length.
func (w *RawWebsocket) readHeader() (byte, int64, error) {
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return 0, 0, err
	}
	if h[1]&0x80 != 0 {
		return 0, 0, errors.New("raw websocket: masked frame from server")
	}
	n := int64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return 0, 0, err
		}
		n = int64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return 0, 0, err
		}
		n = int64(binary.BigEndian.Uint64(b[:]))
	}
	return h[0] & 0x0f, n, nil
}

// Write sends p as one binary frame, masked with a zero key.
func (w *RawWebsocket) Write(p []byte) (int, error) {
	b := append(w.wbuf[:0], 0x82)
	switch {
	case len(p) < 126:
		b = append(b, 0x80|byte(len(p)))
	case len(p) < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	}
	b = append(b, 0, 0, 0, 0)
	b = append(b, p...)
	w.wbuf = b
	if _, err := w.conn.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SetDeadline sets the deadline of the underlying connection.
func (w *RawWebsocket) SetDeadline(t time.Time) error { return w.conn.SetDeadline(t) }

// Close closes the connection without a closing handshake.
func (w *RawWebsocket) Close() error { return w.conn.Close() }
