package gatewaytest_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/deskctl/deskctl/internal/gateway/gatewaytest"
	"github.com/deskctl/deskctl/pkg/rfb"
)

// These check pkg/rfb against a real TigerVNC Xvnc, started by this
// package's helper; pkg/rfb's own tests use only in-memory peers.

func TestConnectXvnc(t *testing.T) {
	addr := gatewaytest.StartXvnc(t, gatewaytest.XvncOptions{Password: "s3cret-pw"}).Addr

	// The right password passes; ServerInit follows ClientInit.
	conn := dial(t, addr)
	if _, err := rfb.Connect(conn, []byte("s3cret-pw")); err != nil {
		t.Fatalf("Connect with the right password: %v", err)
	}
	mustWrite(t, conn, []byte{1})
	init := make([]byte, 24)
	mustRead(t, conn, init)
	w, h := int(init[0])<<8|int(init[1]), int(init[2])<<8|int(init[3])
	if w != 640 || h != 480 {
		t.Errorf("ServerInit size %dx%d, want 640x480", w, h)
	}

	// A wrong password is refused.
	conn = dial(t, addr)
	if _, err := rfb.Connect(conn, []byte("wrong")); !errors.Is(err, rfb.ErrAuthFailed) {
		t.Errorf("Connect with a wrong password: %v", err)
	}

	// No password cannot satisfy a VncAuth-only server.
	conn = dial(t, addr)
	if _, err := rfb.Connect(conn, nil); !errors.Is(err, rfb.ErrNoCommonSecurity) {
		t.Errorf("Connect without a password: %v", err)
	}
}

func TestConnectXvncNone(t *testing.T) {
	addr := gatewaytest.StartXvnc(t, gatewaytest.XvncOptions{}).Addr
	conn := dial(t, addr)
	if _, err := rfb.Connect(conn, nil); err != nil {
		t.Fatalf("Connect to a None server: %v", err)
	}
}

func TestReadVersionXvnc(t *testing.T) {
	addr := gatewaytest.StartXvnc(t, gatewaytest.XvncOptions{}).Addr
	v, err := rfb.ReadVersion(dial(t, addr))
	if err != nil || v != rfb.V38 {
		t.Fatalf("ReadVersion = %v, %v", v, err)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func mustRead(t *testing.T, r io.Reader, b []byte) {
	t.Helper()
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}
