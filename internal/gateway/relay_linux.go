package gateway

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// copyToViewer relays the VNC server's bytes to the viewer. Framebuffer
// updates are the bulk of the traffic, so on Linux they never enter user
// space: the relay waits until the VNC socket is readable, writes a frame
// header for the bytes queued there, and splices those bytes from socket to
// socket. An idle session holds no buffer at all. Without a TCP connection
// to the viewer it falls back to the portable copy.
func copyToViewer(viewer net.Conn, raw *frameConn, vnc *net.TCPConn, n *atomic.Int64,
	add func(float64)) error {
	tcp, ok := (*net.TCPConn)(nil), raw != nil
	if ok {
		tcp, ok = raw.Conn.(*net.TCPConn)
	}
	if !ok {
		return copyPooled(viewer, vnc, n, add)
	}
	vncRaw, err := vnc.SyscallConn()
	if err != nil {
		return err
	}
	viewerRaw, err := tcp.SyscallConn()
	if err != nil {
		return err
	}

	hdr := make([]byte, 0, 10)
	for {
		// Wait for bytes; none readable means the server closed.
		avail, err := queued(vncRaw)
		if err != nil {
			return err
		}
		if avail == 0 {
			return io.EOF
		}
		avail = min(avail, maxFrame)

		// One frame: the header, held back for the payload, then the payload
		// spliced, all under the lock that the library's writes take.
		hdr = frameHeader(hdr, avail)
		raw.mu.Lock()
		err = sendMore(viewerRaw, hdr)
		var m int64
		if err == nil {
			m, err = tcp.ReadFrom(&io.LimitedReader{R: vnc, N: int64(avail)})
			if err == nil && m < int64(avail) {
				err = io.ErrUnexpectedEOF
			}
		}
		raw.mu.Unlock()
		n.Add(m)
		add(float64(m))
		if err != nil {
			return err
		}
	}
}

// queued blocks until the socket is readable and returns how many bytes
// are queued on it; 0 means the peer closed.
func queued(raw syscall.RawConn) (int, error) {
	var avail int
	var sysErr error
	err := raw.Read(func(fd uintptr) bool {
		var one [1]byte
		_, _, e := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch e {
		case syscall.EAGAIN:
			return false
		case syscall.EINTR:
			return false
		case nil:
		default:
			sysErr = e
			return true
		}
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ,
			uintptr(unsafe.Pointer(&avail)))
		if errno != 0 {
			sysErr = errno
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	return avail, sysErr
}

// sendMore writes b, telling the kernel that more data follows at once, so
// that the header and its payload leave in the same segment.
func sendMore(raw syscall.RawConn, b []byte) error {
	var sysErr error
	err := raw.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			m, e := syscall.SendmsgN(int(fd), b, nil, nil, syscall.MSG_MORE)
			if e == syscall.EAGAIN {
				return false
			}
			if e == syscall.EINTR {
				continue
			}
			if e != nil {
				sysErr = e
				return true
			}
			b = b[m:]
		}
		return true
	})
	if err != nil {
		return err
	}
	return sysErr
}
