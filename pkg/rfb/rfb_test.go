package rfb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "RFB 003.008\n", want: V38},
		{in: "RFB 003.003\n", want: V33},
		{in: "RFB 004.001\n", want: Version{4, 1}},
		{in: "RFB 003.008", wantErr: true},
		{in: "RFB 0a3.008\n", wantErr: true},
		{in: "HTTP/1.1 200\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseVersion([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseVersion(%q) = %v, %v; want %v, err %v",
				tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		in, want Version
		wantErr  bool
	}{
		{in: V38, want: V38},
		{in: V37, want: V37},
		{in: Version{3, 5}, want: V33},
		{in: Version{3, 889}, want: V38},
		{in: Version{4, 0}, want: V38},
		{in: Version{3, 2}, wantErr: true},
		{in: Version{2, 9}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := negotiate(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("negotiate(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestEncryptChallenge checks the DES response against a vector computed
// independently with OpenSSL: des-ecb under the bit-reversed key
// 0e86ceceeef64e26 ("password") of the bytes 00 01 .. 0f.
func TestEncryptChallenge(t *testing.T) {
	var challenge [16]byte
	for i := range challenge {
		challenge[i] = byte(i)
	}
	got, err := EncryptChallenge([]byte("password"), challenge)
	if err != nil {
		t.Fatal(err)
	}
	if want := "b866924125c8eebb9debc1db61c538e2"; fmt.Sprintf("%x", got) != want {
		t.Errorf("response %x, want %s", got, want)
	}

	// A password longer than eight bytes is truncated, a shorter one padded.
	long, _ := EncryptChallenge([]byte("password-and-more"), challenge)
	if long != got {
		t.Errorf("long password: got %x, want %x", long, got)
	}
	short, _ := EncryptChallenge([]byte("pass"), challenge)
	if short == got {
		t.Errorf("short password gave the same response as a longer one")
	}
}

// TestAcceptOffersOnlyNone reads the raw bytes a viewer receives.
func TestAcceptOffersOnlyNone(t *testing.T) {
	viewer, relay := net.Pipe()
	defer viewer.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Accept(relay)
		relay.Close()
		done <- err
	}()

	// The greeting is 3.8, then exactly one type: None.
	br := bufio.NewReader(viewer)
	greeting := make([]byte, 12)
	mustRead(t, br, greeting)
	if string(greeting) != "RFB 003.008\n" {
		t.Fatalf("greeting %q", greeting)
	}
	mustWrite(t, viewer, []byte("RFB 003.008\n"))
	types := make([]byte, 2)
	mustRead(t, br, types)
	if !bytes.Equal(types, []byte{1, SecNone}) {
		t.Fatalf("security types %v, want [1 1]", types)
	}
	mustWrite(t, viewer, []byte{SecNone})
	result := make([]byte, 4)
	mustRead(t, br, result)
	if !bytes.Equal(result, []byte{0, 0, 0, 0}) {
		t.Fatalf("security result %v", result)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAcceptRefusesVNCAuth checks that a viewer asking for VNC authentication
// is refused with a reason.
func TestAcceptRefusesVNCAuth(t *testing.T) {
	viewer, relay := net.Pipe()
	defer viewer.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Accept(relay)
		relay.Close()
		done <- err
	}()

	br := bufio.NewReader(viewer)
	mustRead(t, br, make([]byte, 12))
	mustWrite(t, viewer, []byte("RFB 003.008\n"))
	mustRead(t, br, make([]byte, 2))
	mustWrite(t, viewer, []byte{SecVNCAuth})
	err := readSecurityResult(br, V38)
	if !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "None") {
		t.Errorf("viewer saw %v, want a refusal naming None", err)
	}
	if err := <-done; !errors.Is(err, ErrNoCommonSecurity) {
		t.Errorf("Accept returned %v", err)
	}
}

// TestConnectToAccept runs this package's client against its own server
// side, for each version a viewer may answer with.
func TestConnectToAccept(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Accept(b)
		done <- err
	}()
	v, err := Connect(a, nil)
	if err != nil || v != V38 {
		t.Fatalf("Connect = %v, %v", v, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A password-holding client cannot use a None-only server.
	a2, b2 := net.Pipe()
	defer a2.Close()
	defer b2.Close()
	go func() { _, _ = Accept(b2) }()
	if _, err := Connect(a2, []byte("secret")); !errors.Is(err, ErrNoCommonSecurity) {
		t.Errorf("Connect with a password to a None server: %v", err)
	}
}

func TestConnectXvnc(t *testing.T) {
	addr := startXvnc(t, "s3cret-pw")

	// The right password passes; ServerInit follows ClientInit.
	conn := dial(t, addr)
	if _, err := Connect(conn, []byte("s3cret-pw")); err != nil {
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
	if _, err := Connect(conn, []byte("wrong")); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("Connect with a wrong password: %v", err)
	}

	// No password cannot satisfy a VncAuth-only server.
	conn = dial(t, addr)
	if _, err := Connect(conn, nil); !errors.Is(err, ErrNoCommonSecurity) {
		t.Errorf("Connect without a password: %v", err)
	}
}

func TestConnectXvncNone(t *testing.T) {
	addr := startXvnc(t, "")
	conn := dial(t, addr)
	if _, err := Connect(conn, nil); err != nil {
		t.Fatalf("Connect to a None server: %v", err)
	}
}

func TestReadVersionXvnc(t *testing.T) {
	addr := startXvnc(t, "")
	v, err := ReadVersion(dial(t, addr))
	if err != nil || v != V38 {
		t.Fatalf("ReadVersion = %v, %v", v, err)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

func mustRead(t *testing.T, r interface{ Read([]byte) (int, error) }, b []byte) {
	t.Helper()
	for n := 0; n < len(b); {
		m, err := r.Read(b[n:])
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		n += m
	}
}

func mustWrite(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// startXvnc runs a real Xvnc on loopback, with VNC authentication when a
// password is given and None otherwise, and returns its RFB address.
func startXvnc(t *testing.T, password string) string {
	t.Helper()
	xvnc, err := exec.LookPath("Xvnc")
	if err != nil {
		t.Skip("Xvnc is not installed (Debian package tigervnc-standalone-server)")
	}
	port := freePort(t)
	args := []string{"-displayfd", "3", "-rfbport", strconv.Itoa(port), "-localhost",
		"-geometry", "640x480", "-depth", "24", "-nolisten", "tcp"}

	// Derive Xvnc's obfuscated password file with vncpasswd -f.
	if password != "" {
		vncpasswd, err := exec.LookPath("vncpasswd")
		if err != nil {
			t.Skip("vncpasswd is not installed (Debian package tigervnc-tools)")
		}
		cmd := exec.Command(vncpasswd, "-f")
		cmd.Stdin = strings.NewReader(password + "\n")
		obf, err := cmd.Output()
		if err != nil {
			t.Fatalf("vncpasswd -f: %v", err)
		}
		file := filepath.Join(t.TempDir(), "passwd")
		if err := os.WriteFile(file, obf, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-SecurityTypes", "VncAuth", "-PasswordFile", file)
	} else {
		args = append(args, "-SecurityTypes", "None")
	}

	// Start it in its own process group and wait for its display number.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xvnc, args...)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) == "" {
			t.Fatalf("Xvnc exited before it was ready: %s", stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Xvnc not ready after 20s: %s", stderr.String())
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
