// Package gatewaytest starts the real peers that deskgate's tests and
// benchmarks talk to: a TigerVNC Xvnc on loopback, and a synthetic VNC
// server whose stream is fixed, for measurements.
package gatewaytest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Xvnc is a running TigerVNC X server.
type Xvnc struct {
	// Display is the X display, e.g. ":7".
	Display string
	// Addr is the RFB address on loopback.
	Addr string
	// PasswordFile holds the plain password; empty when the server wants
	// no authentication.
	PasswordFile string

	cmd    *exec.Cmd
	stderr *lockedBuffer
}

// XvncOptions configure StartXvnc.
type XvncOptions struct {
	// Password, when set, makes the server require VNC authentication.
	Password string
	// Geometry is the initial screen size; 640x480 by default.
	Geometry string
}

// Require skips the test when the named programs are not installed, naming
// the Debian package that brings each.
func Require(tb testing.TB, programs ...string) {
	tb.Helper()
	packages := map[string]string{
		"Xvnc":       "tigervnc-standalone-server",
		"vncpasswd":  "tigervnc-tools",
		"chromium":   "chromium",
		"websockify": "websockify",
		"openbox":    "openbox",
		"xsetroot":   "x11-xserver-utils",
		"xdpyinfo":   "x11-utils",
	}
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			tb.Skipf("%s is not installed (Debian package %s)", p, packages[p])
		}
	}
}

// StartXvnc runs Xvnc on a free display, serving RFB on a free loopback
// port, and stops it when the test ends.
func StartXvnc(tb testing.TB, opts XvncOptions) *Xvnc {
	tb.Helper()
	Require(tb, "Xvnc")
	if opts.Geometry == "" {
		opts.Geometry = "640x480"
	}
	port := FreePort(tb)
	x := &Xvnc{Addr: fmt.Sprintf("127.0.0.1:%d", port), stderr: &lockedBuffer{}}
	args := []string{"-displayfd", "3", "-rfbport", strconv.Itoa(port), "-localhost",
		"-geometry", opts.Geometry, "-depth", "24", "-nolisten", "tcp", "-AlwaysShared"}

	// Derive Xvnc's obfuscated password file from the plain one.
	if opts.Password != "" {
		Require(tb, "vncpasswd")
		dir := tb.TempDir()
		x.PasswordFile = filepath.Join(dir, "password")
		if err := os.WriteFile(x.PasswordFile, []byte(opts.Password+"\n"), 0o600); err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command("vncpasswd", "-f")
		cmd.Stdin = strings.NewReader(opts.Password + "\n")
		obf, err := cmd.Output()
		if err != nil {
			tb.Fatalf("vncpasswd -f: %v", err)
		}
		obfFile := filepath.Join(dir, "passwd")
		if err := os.WriteFile(obfFile, obf, 0o600); err != nil {
			tb.Fatal(err)
		}
		args = append(args, "-SecurityTypes", "VncAuth", "-PasswordFile", obfFile)
	} else {
		args = append(args, "-SecurityTypes", "None")
	}

	// Start it in its own process group; it writes its display when ready.
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	x.cmd = exec.Command("Xvnc", args...)
	x.cmd.ExtraFiles = []*os.File{w}
	x.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	x.cmd.Stderr = x.stderr
	if err := x.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	w.Close()
	tb.Cleanup(x.stop)

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case d := <-line:
		if d == "" {
			tb.Fatalf("Xvnc exited before it was ready: %s", x.stderr.String())
		}
		x.Display = ":" + d
	case <-time.After(20 * time.Second):
		tb.Fatalf("Xvnc not ready after 20s: %s", x.stderr.String())
	}
	return x
}

// stop ends Xvnc's process group and waits for it.
func (x *Xvnc) stop() {
	_ = syscall.Kill(-x.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = x.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-x.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Log returns what Xvnc has written to stderr so far.
func (x *Xvnc) Log() string { return x.stderr.String() }

// ScreenSize returns the X screen's size, read with xdpyinfo.
func ScreenSize(tb testing.TB, display string) (w, h int) {
	tb.Helper()
	Require(tb, "xdpyinfo")
	out, err := exec.Command("xdpyinfo", "-display", display).Output()
	if err != nil {
		tb.Fatalf("xdpyinfo: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "dimensions:" {
			if _, err := fmt.Sscanf(f[1], "%dx%d", &w, &h); err == nil {
				return w, h
			}
		}
	}
	tb.Fatalf("no dimensions in xdpyinfo output")
	return 0, 0
}

// FreePort returns a TCP port on loopback that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// CountingListener accepts connections on loopback and counts them, for
// showing that a refused request opened no VNC connection.
type CountingListener struct {
	net.Listener
	mu    sync.Mutex
	count int
}

// ListenCounting starts a CountingListener that holds accepted connections
// open until the test ends.
func ListenCounting(tb testing.TB) *CountingListener {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cl := &CountingListener{Listener: l}
	var conns []net.Conn
	tb.Cleanup(func() {
		l.Close()
		cl.mu.Lock()
		defer cl.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			cl.mu.Lock()
			cl.count++
			conns = append(conns, c)
			cl.mu.Unlock()
		}
	}()
	return cl
}

// Count returns how many connections were accepted.
func (cl *CountingListener) Count() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.count
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
