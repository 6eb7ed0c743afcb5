package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/deskctl/deskctl/internal/gateway"
	"github.com/deskctl/deskctl/internal/gateway/gatewaytest"
	"github.com/deskctl/deskctl/pkg/accessjwt"
	"github.com/deskctl/deskctl/pkg/accessjwt/accessjwttest"
)

const (
	e2eAud      = "aud-e2e"
	e2eUser     = "ada@example.com"
	e2ePassword = "e2e-VNC-pw"
	e2eLocal    = "loc+secret/with=odd&chars"
	// rootColour is what the session paints the root window.
	rootColour = "#1f8a4c"
	// barHeight is the page's header bar, which the remote screen excludes.
	barHeight = 32
)

// desktop is the image's entrypoint running natively: Xvnc with VNC
// authentication, a session, and deskgate (this test binary as main).
type desktop struct {
	display string
	port    int
	base    string
	logs    *bytes.Buffer
}

// startDesktop runs manifests/desktop/entrypoint.sh in a temporary
// directory and waits for deskgate to be ready.
func startDesktop(t *testing.T, iss *accessjwttest.Issuer, extraEnv ...string) *desktop {
	t.Helper()
	gatewaytest.Require(t, "Xvnc", "vncpasswd", "openbox", "xsetroot", "xdpyinfo")
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secret")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, val := range map[string]string{"desk-3": e2ePassword, "desk-3.local": e2eLocal} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(val), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	display := freeDisplay(t)
	port := gatewaytest.FreePort(t)
	d := &desktop{display: display, port: port, base: fmt.Sprintf("http://127.0.0.1:%d", port),
		logs: &bytes.Buffer{}}
	cmd := exec.Command("bash", filepath.Join("..", "..", "manifests", "desktop", "entrypoint.sh"))
	cmd.Env = append(os.Environ(),
		"POD_NAME=desk-3",
		"HOME="+dir,
		"DESK_SECRET_DIR="+secrets,
		"DESK_DISPLAY="+display,
		"DESK_VNC_PORT="+strconv.Itoa(gatewaytest.FreePort(t)),
		"DESK_RUN_DIR="+filepath.Join(dir, "run"),
		"DESK_GEOMETRY=800x600",
		"DESK_SESSION=xsetroot -solid '"+rootColour+"'; exec openbox",
		"DESKGATE="+os.Args[0],
		runAsDeskgate+"=1",
		"DESKGATE_LISTEN=127.0.0.1:"+strconv.Itoa(port),
		"DESKGATE_METRICS_LISTEN=127.0.0.1:"+strconv.Itoa(gatewaytest.FreePort(t)),
		"DESKGATE_TEAM_DOMAIN="+iss.URL,
		"DESKGATE_AUD="+e2eAud,
		"DESKGATE_ALLOW_EMAIL="+e2eUser,
		"DESKGATE_NOVNC_DIR=/usr/share/novnc",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout = d.logs
	cmd.Stderr = d.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("desktop output:\n%s", d.logs.String())
		}
	})

	// Ready means deskgate answers and Xvnc greets it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(d.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("desktop not ready after 60s:\n%s", d.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freeDisplay picks an X display number with no socket and no lock.
func freeDisplay(t *testing.T) string {
	t.Helper()
	start := 40 + os.Getpid()%40
	for i := range 100 {
		n := start + i
		_, e1 := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n))
		_, e2 := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n))
		if os.IsNotExist(e1) && os.IsNotExist(e2) {
			return ":" + strconv.Itoa(n)
		}
	}
	t.Fatal("no free X display")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	gatewaytest.Require(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 700),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)

	// The first call starts the browser and must carry no timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// step bounds one browser action in time.
func step(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	return sctx
}

// TestBrowserEndToEnd opens the desktop in a real Chromium that sends an
// Access token header, and checks that the canvas shows the painted root
// window and that remote resize changes the X screen.
func TestBrowserEndToEnd(t *testing.T) {
	iss := accessjwttest.NewIssuer(t)
	d := startDesktop(t, iss)
	ctx := newBrowser(t)
	token := iss.Token(t, e2eUser, e2eAud)

	// Send the token as Access would, on every request including the
	// websocket upgrade, and open the page at 1000x700.
	_, err := chromedp.Call(step(t, ctx), network.Enable, network.EnableParams{})
	if err == nil {
		_, err = chromedp.Call(step(t, ctx), network.SetExtraHTTPHeaders,
			network.SetExtraHTTPHeadersParams{Headers: network.Headers{accessjwt.Header: token}})
	}
	if err == nil {
		err = chromedp.Do(step(t, ctx),
			chromedp.EmulateViewport(1000, 700),
			chromedp.Navigate(d.base+"/"),
			chromedp.WaitReady(chromedp.CSS(`body[data-state="connected"]`)),
		)
	}
	if err != nil {
		t.Fatalf("page did not connect: %v\n%s", err, d.logs.String())
	}
	user, err1 := chromedp.Run(step(t, ctx), chromedp.Text(chromedp.ID("user")))
	name, err2 := chromedp.Run(step(t, ctx), chromedp.Text(chromedp.ID("desktop")))
	if err1 != nil || err2 != nil || user != e2eUser || name != "desk-3" {
		t.Errorf("page shows user %q on %q (%v, %v)", user, name, err1, err2)
	}

	// The canvas shows the root window: its colour dominates a screenshot.
	want := mustColour(t, rootColour)
	var got [3]uint8
	waitUntil(t, 20*time.Second, func() bool {
		got = dominantColour(t, screenshot(t, step(t, ctx)))
		return near(got, want)
	}, func() string { return fmt.Sprintf("dominant colour %x, want %x", got, want) })

	// Remote resize: the X screen follows the page's size.
	waitUntil(t, 20*time.Second, func() bool {
		w, h := gatewaytest.ScreenSize(t, d.display)
		return w == 1000 && h == 700-barHeight
	}, func() string {
		w, h := gatewaytest.ScreenSize(t, d.display)
		return fmt.Sprintf("X screen %dx%d, want 1000x%d", w, h, 700-barHeight)
	})
	if err := chromedp.Do(step(t, ctx), chromedp.EmulateViewport(900, 600)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, func() bool {
		w, h := gatewaytest.ScreenSize(t, d.display)
		return w == 900 && h == 600-barHeight
	}, func() string {
		w, h := gatewaytest.ScreenSize(t, d.display)
		return fmt.Sprintf("X screen %dx%d after resize, want 900x%d", w, h, 600-barHeight)
	})

	// A drop on the VNC side shows on the page, which then reconnects.
	if out, err := exec.Command("vncconfig", "-display", d.display, "-disconnect").
		CombinedOutput(); err != nil {
		t.Fatalf("vncconfig -disconnect: %v: %s", err, out)
	}
	err = chromedp.Do(step(t, ctx),
		chromedp.WaitReady(chromedp.CSS(`body[data-state="disconnected"]`)))
	if err != nil {
		t.Fatalf("page did not show the drop: %v", err)
	}
	state, err := chromedp.Run(step(t, ctx), chromedp.Text(chromedp.ID("state")))
	if err != nil || !strings.Contains(state, "reconnecting") {
		t.Errorf("state during the drop: %q, %v", state, err)
	}
	err = chromedp.Do(step(t, ctx), chromedp.WaitReady(chromedp.CSS(`body[data-state="connected"]`)))
	if err != nil {
		t.Fatalf("page did not reconnect: %v", err)
	}

	// Nothing the browser or the logs saw holds the VNC password.
	html, err := chromedp.Run(step(t, ctx), chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, e2ePassword) || strings.Contains(d.logs.String(), e2ePassword) {
		t.Errorf("the VNC password leaked into the page or the logs")
	}
}

// TestBrowserWithoutToken checks that the same browser without the header
// gets the refusal page and no session.
func TestBrowserWithoutToken(t *testing.T) {
	iss := accessjwttest.NewIssuer(t)
	d := startDesktop(t, iss)
	ctx := newBrowser(t)
	if err := chromedp.Do(step(t, ctx), chromedp.Navigate(d.base+"/")); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(step(t, ctx), chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "Access denied" {
		t.Errorf("title %q, want Access denied", title)
	}
	if strings.Contains(d.logs.String(), "session started") {
		t.Errorf("a session started without a token")
	}
}

// TestBrowserLocalAccess follows deskctl open --local: no Access token, the
// local secret in the URL fragment, exchanged by the page for a cookie.
func TestBrowserLocalAccess(t *testing.T) {
	iss := accessjwttest.NewIssuer(t)
	d := startDesktop(t, iss)
	ctx := newBrowser(t)
	err := chromedp.Do(step(t, ctx),
		chromedp.Navigate(gateway.LocalURL(d.port, e2eLocal)),
		chromedp.WaitReady(chromedp.CSS(`body[data-state="connected"]`)),
	)
	if err != nil {
		t.Fatalf("local page did not connect: %v\n%s", err, d.logs.String())
	}
	user, err := chromedp.Run(step(t, ctx), chromedp.Text(chromedp.ID("user")))
	if err != nil || user != "local access" {
		t.Errorf("user %q, %v", user, err)
	}

	// The secret is gone from the address bar and never reached a log.
	href, err := chromedp.Run(step(t, ctx), chromedp.Evaluate[string]("location.href"))
	if err != nil || strings.Contains(href, "local=") {
		t.Errorf("address %q, %v", href, err)
	}
	if strings.Contains(d.logs.String(), "secret/with") {
		t.Errorf("the local secret appears in the logs")
	}

	// A wrong secret gets the refusal page and no session.
	ctx2 := newBrowser(t)
	err = chromedp.Do(step(t, ctx2), chromedp.Navigate(gateway.LocalURL(d.port, "wrong")))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, func() bool {
		msg, err := chromedp.Run(step(t, ctx2), chromedp.Text(chromedp.ID("msg")))
		return err == nil && strings.Contains(msg, "not valid")
	}, func() string { return "no refusal for a wrong secret" })
}

func screenshot(t *testing.T, ctx context.Context) image.Image {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("DESKGATE_E2E_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "e2e.png"), buf, 0o644)
	}
	return img
}

// dominantColour returns the most frequent colour of img.
func dominantColour(t *testing.T, img image.Image) [3]uint8 {
	t.Helper()
	counts := map[[3]uint8]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			counts[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}]++
		}
	}
	var best [3]uint8
	n := -1
	for c, k := range counts {
		if k > n {
			best, n = c, k
		}
	}
	return best
}

func mustColour(t *testing.T, hex string) [3]uint8 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	return [3]uint8{uint8(v >> 16), uint8(v >> 8), uint8(v)}
}

// near allows for colour rounding along the way.
func near(a, b [3]uint8) bool {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < -6 || d > 6 {
			return false
		}
	}
	return true
}

func waitUntil(t *testing.T, limit time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, why())
		}
		time.Sleep(250 * time.Millisecond)
	}
}
