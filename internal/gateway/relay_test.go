package gateway_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskctl/deskctl/internal/gateway/gatewaytest"
)

// TestRelayIntegrity streams a known pattern from a synthetic VNC server
// through the gateway and checks every byte, then echoes large messages
// back, so frame lengths on the spliced path are exact both ways.
func TestRelayIntegrity(t *testing.T) {
	vnc := gatewaytest.StartSyntheticVNC(t)
	f := newFixture(t, vnc.Addr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := f.dial(ctx, f.iss.Token(t, user, aud), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	viewer := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	if err := gatewaytest.Viewer(viewer); err != nil {
		t.Fatal(err)
	}

	// 24 MiB of the server's pattern: byte i of each 64 KiB chunk is i*7.
	const total = 24 << 20
	cmd := binary.BigEndian.AppendUint64([]byte{gatewaytest.CmdStream}, total)
	if _, err := viewer.Write(cmd); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100_000)
	for got := 0; got < total; {
		n, err := viewer.Read(buf[:min(len(buf), total-got)])
		for i, c := range buf[:n] {
			if pos := got + i; c != gatewaytest.PatternByte(pos) {
				t.Fatalf("byte %d is %d, want %d", pos, c, gatewaytest.PatternByte(pos))
			}
		}
		got += n
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}

	// Echo: a clipboard-sized message and many small ones come back whole.
	if _, err := viewer.Write([]byte{gatewaytest.CmdEcho}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("clipboard "), 30_000)
	for _, msg := range [][]byte{big, []byte("x"), big[:70_000]} {
		if _, err := viewer.Write(msg); err != nil {
			t.Fatal(err)
		}
		back := make([]byte, len(msg))
		if _, err := io.ReadFull(viewer, back); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, msg) {
			t.Fatalf("echo of %d bytes differs", len(msg))
		}
	}
}
