package gatewaytest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/deskctl/deskctl/pkg/rfb"
)

// Commands a viewer sends to the synthetic server after ServerInit.
const (
	// CmdStream is followed by a big-endian uint64 count: the server sends
	// that many bytes and keeps listening for commands.
	CmdStream byte = 'S'
	// CmdEcho turns the connection into an echo of every later byte.
	CmdEcho byte = 'E'
)

// SyntheticVNC is a VNC server whose traffic is fixed, for measuring relays
// over the same stream: it completes a real RFB 3.8 handshake with security
// type None and a ServerInit, then obeys CmdStream and CmdEcho.
type SyntheticVNC struct {
	// Addr is where it listens, on loopback.
	Addr string

	l     net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	// pattern is a file of the stream's bytes, sent with sendfile so that
	// the server costs little CPU per byte.
	pattern string
}

// patternChunk is the period of the stream: byte i of each chunk is i*7.
const patternChunk = 64 << 10

// patternFileSize is the size of the pattern file, a multiple of the chunk.
const patternFileSize = 256 * patternChunk

// PatternByte is the byte at offset pos of a stream.
func PatternByte(pos int) byte { return byte((pos % patternChunk) * 7) }

// serverInit is a 640x480, 32 bpp true-colour ServerInit named "synthetic".
var serverInit = func() []byte {
	b := []byte{2, 128, 1, 224, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0}
	name := "synthetic"
	b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
	return append(b, name...)
}()

// StartSyntheticVNC starts a synthetic server that stops with the test.
func StartSyntheticVNC(tb testing.TB) *SyntheticVNC {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &SyntheticVNC{Addr: l.Addr().String(), l: l, conns: map[net.Conn]bool{}}
	s.pattern = filepath.Join(tb.TempDir(), "pattern")
	chunk := make([]byte, patternChunk)
	for i := range chunk {
		chunk[i] = PatternByte(i)
	}
	if err := os.WriteFile(s.pattern, bytes.Repeat(chunk, patternFileSize/patternChunk),
		0o600); err != nil {
		tb.Fatal(err)
	}
	go s.accept()
	tb.Cleanup(s.close)
	return s
}

func (s *SyntheticVNC) accept() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		go func() {
			_ = s.serve(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *SyntheticVNC) close() {
	s.l.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// serve runs one connection: handshake, then commands.
func (s *SyntheticVNC) serve(c net.Conn) error {
	if _, err := rfb.Accept(c); err != nil {
		return err
	}
	var clientInit [1]byte
	if _, err := io.ReadFull(c, clientInit[:]); err != nil {
		return err
	}
	if _, err := c.Write(serverInit); err != nil {
		return err
	}

	for {
		var cmd [1]byte
		if _, err := io.ReadFull(c, cmd[:]); err != nil {
			return err
		}
		switch cmd[0] {
		case CmdEcho:
			_, err := io.CopyBuffer(c, struct{ io.Reader }{c}, make([]byte, 4096))
			return err
		case CmdStream:
			var n [8]byte
			if _, err := io.ReadFull(c, n[:]); err != nil {
				return err
			}
			if err := s.stream(c, binary.BigEndian.Uint64(n[:])); err != nil {
				return err
			}
		default:
			return fmt.Errorf("synthetic VNC: unknown command %q", cmd[0])
		}
	}
}

// stream sends n bytes of the pattern, from the file with sendfile.
func (s *SyntheticVNC) stream(c net.Conn, n uint64) error {
	f, err := os.Open(s.pattern)
	if err != nil {
		return err
	}
	defer f.Close()
	w, ok := c.(io.ReaderFrom)
	if !ok {
		return errors.New("synthetic VNC: connection cannot send a file")
	}
	for n > 0 {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		m := min(n, patternFileSize)
		if _, err := w.ReadFrom(&io.LimitedReader{R: f, N: int64(m)}); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// Viewer completes the viewer's side of the handshake with a synthetic
// server over rw, directly or through a relay that offers None: version,
// security, ClientInit and ServerInit.
func Viewer(rw io.ReadWriter) error {
	if _, err := rfb.Connect(rw, nil); err != nil {
		return err
	}
	if _, err := rw.Write([]byte{1}); err != nil {
		return err
	}
	got := make([]byte, len(serverInit))
	if _, err := io.ReadFull(rw, got); err != nil {
		return err
	}
	if string(got) != string(serverInit) {
		return errors.New("synthetic VNC: unexpected ServerInit")
	}
	return nil
}
