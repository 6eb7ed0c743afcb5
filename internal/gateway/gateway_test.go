package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/internal/gateway"
	"github.com/deskctl/deskctl/internal/gateway/gatewaytest"
	"github.com/deskctl/deskctl/pkg/accessjwt"
	"github.com/deskctl/deskctl/pkg/accessjwt/accessjwttest"
	"github.com/deskctl/deskctl/pkg/rfb"
)

const (
	aud         = "aud-desk-3"
	user        = "ada@example.com"
	vncPassword = "vnc-Pa55-secret"
	localSecret = "local-secret-0123456789abcdef"
)

// fixture is a gateway in front of a VNC address, with a stand-in Access
// team and captured logs.
type fixture struct {
	iss  *accessjwttest.Issuer
	srv  *gateway.Server
	ts   *httptest.Server
	logs *syncBuffer
	cfg  gateway.Config
}

func newFixture(t *testing.T, vncAddr string, edit func(*gateway.Config)) *fixture {
	t.Helper()
	f := &fixture{iss: accessjwttest.NewIssuer(t), logs: &syncBuffer{}}
	secretFile := filepath.Join(t.TempDir(), "desk-3.local")
	if err := os.WriteFile(secretFile, []byte(localSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.cfg = gateway.Config{
		VNCAddr:         vncAddr,
		TeamDomain:      f.iss.URL,
		Audiences:       []string{aud},
		Desktop:         "desk-3",
		LocalSecretFile: secretFile,
		Keepalive:       time.Minute,
		Logger: slog.New(slog.NewJSONHandler(f.logs,
			&slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&f.cfg)
	}
	var err error
	f.srv, err = gateway.New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

// get requests path with the given token (none when empty) as a browser.
func (f *fixture) get(t *testing.T, path, token string,
	cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	if token != "" {
		req.Header.Set(accessjwt.Header, token)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// dial opens the relay websocket with the token header and cookies.
func (f *fixture) dial(ctx context.Context, token string,
	opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.Subprotocols = []string{"binary"}
	opts.HTTPHeader = http.Header{}
	if token != "" {
		opts.HTTPHeader.Set(accessjwt.Header, token)
	}
	return websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.ts.URL, "http")+gateway.WebsocketPath, opts)
}

func metricsText(t *testing.T, srv *gateway.Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, gateway.MetricsPath, nil))
	return rec.Body.String()
}

// TestRefusals is the negative corpus: every request without a valid token
// or cookie is answered 403 and opens no VNC connection, page or websocket.
func TestRefusals(t *testing.T) {
	vnc := gatewaytest.ListenCounting(t)
	f := newFixture(t, vnc.Addr().String(), func(c *gateway.Config) {
		c.AllowEmails = []string{"Ada@Example.com"}
	})
	iss := f.iss
	other := accessjwttest.NewIssuer(t)
	now := time.Now()
	with := func(k string, v any) map[string]any {
		c := iss.Claims(user, aud)
		c[k] = v
		return c
	}

	// The unknown kid goes first, while the verifier holds no keys: it
	// costs exactly one fetch of the key set and is still refused.
	cases := []struct{ name, token, reason string }{
		{"unknown kid", iss.SignUnpublished(t, "key-99", iss.Claims(user, aud)), "unknown_key"},
		{"no token from loopback", "", "missing"},
		{"expired", iss.Sign(t, with("exp", now.Add(-5*time.Minute).Unix())), "expired"},
		{"not yet valid", iss.Sign(t, with("nbf", now.Add(5*time.Minute).Unix())), "not_yet_valid"},
		{"wrong aud", iss.Sign(t, with("aud", []string{"aud-desk-4"})), "audience"},
		{"wrong iss", iss.Sign(t, with("iss", other.URL)), "issuer"},
		{"tampered signature", accessjwttest.Tamper(iss.Token(t, user, aud)), "signature"},
		{"alg none", iss.SignNone(t, iss.Claims(user, aud)), "algorithm"},
		{"HS256 with the public key", iss.SignHS256WithPublicKey(t, iss.Claims(user, aud)),
			"algorithm"},
		{"email not allowed", iss.Token(t, "eve@example.com", aud), "email"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/", "/novnc/core/rfb.js", "/static/app.js"} {
				resp, body := f.get(t, path, tc.token)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("GET %s: %d, want 403", path, resp.StatusCode)
				}
				if !strings.Contains(body, "Access denied") {
					t.Errorf("GET %s: no human page: %q", path, body)
				}
			}
			// A client that is not a browser is told the reason.
			req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/", nil)
			if tc.token != "" {
				req.Header.Set(accessjwt.Header, tc.token)
			}
			if resp, err := http.DefaultClient.Do(req); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := "forbidden: " + tc.reason + "\n"; string(body) != want {
					t.Errorf("plain answer %q, want %q", body, want)
				}
			}
			_, resp, err := f.dial(context.Background(), tc.token, nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("websocket: %v, %v; want 403", err, resp)
			}
			if i == 0 && iss.Fetches() != 1 {
				t.Errorf("key set fetched %d times for an unknown kid, want 1", iss.Fetches())
			}
		})
	}
	if vnc.Count() != 0 {
		t.Errorf("refused requests opened %d VNC connections", vnc.Count())
	}

	// The refusals are counted by reason, and no email becomes a label.
	m := metricsText(t, f.srv)
	for _, want := range []string{`reason="expired"`, `reason="email"`, `reason="missing"`} {
		if !strings.Contains(m, "deskgate_auth_failures_total{"+want+"}") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, "example.com") {
		t.Errorf("an email appears in the metrics")
	}
}

func TestProbesNeedNoToken(t *testing.T) {
	x := gatewaytest.StartXvnc(t, gatewaytest.XvncOptions{Password: vncPassword})
	f := newFixture(t, x.Addr, func(c *gateway.Config) { c.VNCPasswordFile = x.PasswordFile })
	for _, path := range []string{gateway.HealthzPath, gateway.ReadyzPath} {
		resp, body := f.get(t, path, "")
		if resp.StatusCode != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}

	// With the VNC server gone, the gateway is alive but not ready.
	down := newFixture(t, "127.0.0.1:1", nil)
	resp, _ := down.get(t, gateway.ReadyzPath, "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz without VNC: %d", resp.StatusCode)
	}
	if resp, _ := down.get(t, gateway.HealthzPath, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz without VNC: %d", resp.StatusCode)
	}
}

// TestSessionThroughXvnc relays a session to a real Xvnc that requires the
// VNC password. The viewer is offered None only, reaches ServerInit, and the
// password shows up in no response and no log line.
func TestSessionThroughXvnc(t *testing.T) {
	x := gatewaytest.StartXvnc(t, gatewaytest.XvncOptions{Password: vncPassword})
	f := newFixture(t, x.Addr, func(c *gateway.Config) { c.VNCPasswordFile = x.PasswordFile })
	token := f.iss.Token(t, user, aud)
	var seen bytes.Buffer

	// The page names the desktop and the user.
	resp, page := f.get(t, "/", token)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "desk-3") ||
		!strings.Contains(page, user) {
		t.Fatalf("page: %d %q", resp.StatusCode, page)
	}
	seen.WriteString(page)
	for _, p := range []string{"/static/app.js", "/novnc/core/rfb.js"} {
		resp, body := f.get(t, p, token)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
		seen.WriteString(body)
	}

	// The relay: security types offered are exactly [None].
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := f.dial(ctx, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	viewer := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	rec := &recorder{rw: viewer, log: &seen}
	greeting := make([]byte, 12)
	if _, err := io.ReadFull(rec, greeting); err != nil || string(greeting) != "RFB 003.008\n" {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	if _, err := rec.Write([]byte("RFB 003.008\n")); err != nil {
		t.Fatal(err)
	}
	types := make([]byte, 2)
	if _, err := io.ReadFull(rec, types); err != nil || !bytes.Equal(types, []byte{1, rfb.SecNone}) {
		t.Fatalf("security types %v, %v; want [1 1]", types, err)
	}
	if _, err := rec.Write([]byte{rfb.SecNone}); err != nil {
		t.Fatal(err)
	}
	result := make([]byte, 4)
	if _, err := io.ReadFull(rec, result); err != nil || !bytes.Equal(result, []byte{0, 0, 0, 0}) {
		t.Fatalf("security result %v, %v", result, err)
	}

	// ClientInit, then ServerInit carries the screen size.
	if _, err := rec.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	init := make([]byte, 24)
	if _, err := io.ReadFull(rec, init); err != nil {
		t.Fatal(err)
	}
	if w, h := int(init[0])<<8|int(init[1]), int(init[2])<<8|int(init[3]); w != 640 || h != 480 {
		t.Errorf("ServerInit %dx%d, want 640x480", w, h)
	}
	ws.Close(websocket.StatusNormalClosure, "")

	// One audit line per session, with desktop, email, duration and bytes.
	waitFor(t, func() bool { return strings.Contains(f.logs.String(), `"session ended"`) })
	audit := findLog(t, f.logs.String(), "session ended")
	for _, k := range []string{"desktop", "email", "duration", "bytes_to_viewer", "bytes_to_vnc"} {
		if _, ok := audit[k]; !ok {
			t.Errorf("audit line lacks %s: %v", k, audit)
		}
	}
	if audit["email"] != user || audit["desktop"] != "desk-3" {
		t.Errorf("audit line %v", audit)
	}

	// The password is nowhere the browser or the logs can see.
	for what, text := range map[string]string{"responses": seen.String(), "logs": f.logs.String(),
		"metrics": metricsText(t, f.srv)} {
		if strings.Contains(text, vncPassword) {
			t.Errorf("the VNC password appears in the %s", what)
		}
	}
	if !strings.Contains(metricsText(t, f.srv), `deskgate_sessions_total{result="ok"} 1`) {
		t.Errorf("session not counted")
	}
}

func TestWrongVNCPasswordIsBadGateway(t *testing.T) {
	x := gatewaytest.StartXvnc(t, gatewaytest.XvncOptions{Password: vncPassword})
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("not-it\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, x.Addr, func(c *gateway.Config) { c.VNCPasswordFile = wrong })
	_, resp, err := f.dial(context.Background(), f.iss.Token(t, user, aud), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("websocket: %v, %v; want 502", err, resp)
	}
	if !strings.Contains(metricsText(t, f.srv), `result="vnc_handshake"`) {
		t.Errorf("failed handshake not counted")
	}
}

// TestKeepalive leaves a session idle and counts the pings it receives.
func TestKeepalive(t *testing.T) {
	x := gatewaytest.StartXvnc(t, gatewaytest.XvncOptions{})
	const interval = 300 * time.Millisecond
	f := newFixture(t, x.Addr, func(c *gateway.Config) { c.Keepalive = interval })

	var mu sync.Mutex
	var pings []time.Time
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	ws, _, err := f.dial(ctx, f.iss.Token(t, user, aud), &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool {
			mu.Lock()
			pings = append(pings, time.Now())
			mu.Unlock()
			return true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	// Finish the handshake and stay idle; reading is what answers pings.
	viewer := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	if _, err := rfb.Connect(viewer, nil); err != nil {
		t.Fatal(err)
	}
	idle := 8 * interval
	_ = viewer.SetReadDeadline(time.Now().Add(idle))
	_, _ = io.Copy(io.Discard, viewer)

	// Pings come at the interval: the typical gap is the interval, and no
	// gap, scheduling delays on a busy machine included, reaches twice it.
	mu.Lock()
	defer mu.Unlock()
	if len(pings) < 5 {
		t.Fatalf("%d pings in %s of idleness, want at least 5", len(pings), idle)
	}
	var gaps []time.Duration
	prev := start
	for _, p := range pings {
		gaps = append(gaps, p.Sub(prev))
		prev = p
	}
	slices.Sort(gaps)
	if med := gaps[len(gaps)/2]; med < interval*8/10 || med > interval*12/10 {
		t.Errorf("median gap %s between pings, interval %s", med, interval)
	}
	if worst := gaps[len(gaps)-1]; worst >= 2*interval {
		t.Errorf("gap of %s between pings, interval %s", worst, interval)
	}
}

// TestLocalAccess walks the path of deskctl open --local: the secret is
// exchanged for a cookie, which then opens the page and the relay.
func TestLocalAccess(t *testing.T) {
	x := gatewaytest.StartXvnc(t, gatewaytest.XvncOptions{})
	f := newFixture(t, x.Addr, nil)
	post := func(secret string) *http.Response {
		resp, err := http.PostForm(f.ts.URL+gateway.LocalAuthPath, url.Values{"secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	// A wrong secret is refused; so is loopback without anything.
	if resp := post("guess"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong secret: %d", resp.StatusCode)
	}
	if resp := post(localSecret + "x"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("longer secret: %d", resp.StatusCode)
	}
	if resp, body := f.get(t, "/", ""); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(body, "local=") {
		t.Errorf("page without anything: %d", resp.StatusCode)
	}

	// The right secret gives an HttpOnly, SameSite=Strict cookie.
	resp := post(localSecret)
	if resp.StatusCode != http.StatusNoContent || len(resp.Cookies()) != 1 {
		t.Fatalf("right secret: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	cookie := resp.Cookies()[0]
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.MaxAge <= 0 {
		t.Errorf("cookie %+v", cookie)
	}
	if strings.Contains(cookie.Value, localSecret) {
		t.Errorf("the cookie carries the secret")
	}
	if resp, body := f.get(t, "/", "", cookie); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, "local access") {
		t.Errorf("page with the cookie: %d", resp.StatusCode)
	}
	hdr := http.Header{}
	hdr.Set("Cookie", cookie.Name+"="+cookie.Value)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.ts.URL, "http")+gateway.WebsocketPath,
		&websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{"binary"}})
	if err != nil {
		t.Fatalf("relay with the cookie: %v", err)
	}
	if _, err := rfb.Connect(websocket.NetConn(ctx, ws, websocket.MessageBinary), nil); err != nil {
		t.Errorf("handshake over the local path: %v", err)
	}
	ws.Close(websocket.StatusNormalClosure, "")

	// A forged cookie, and one of another desktop, are refused.
	forged := *cookie
	forged.Value = "9999999999." + strings.SplitN(cookie.Value, ".", 2)[1]
	if resp, _ := f.get(t, "/", "", &forged); resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged expiry: %d", resp.StatusCode)
	}
	renamed := *cookie
	renamed.Name = "deskgate_local_desk_4"
	if resp, _ := f.get(t, "/", "", &renamed); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cookie of another desktop: %d", resp.StatusCode)
	}

	// The secret never shows in the logs.
	if strings.Contains(f.logs.String(), localSecret) {
		t.Errorf("the local secret appears in the logs")
	}
}

func TestLocalURL(t *testing.T) {
	got := gateway.LocalURL(43210, "a+b/c=")
	if want := "http://127.0.0.1:43210/#local=a%2Bb%2Fc%3D"; got != want {
		t.Errorf("LocalURL = %q, want %q", got, want)
	}
}

// TestAccessConfigReload swaps the mounted file the way Kubernetes does,
// through a ..data symlink, and sees the new audience and users apply.
func TestAccessConfigReload(t *testing.T) {
	dir := t.TempDir()
	iss := accessjwttest.NewIssuer(t)
	write := func(gen string, ac desktop.AccessConfig) {
		raw, _ := json.Marshal(ac)
		genDir := filepath.Join(dir, gen)
		if err := os.MkdirAll(genDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(genDir, desktop.AccessConfigKey), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(gen, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	write("..gen1", desktop.AccessConfig{TeamDomain: iss.URL, AUD: []string{"aud-set"}})
	if err := os.Symlink(filepath.Join("..data", desktop.AccessConfigKey),
		filepath.Join(dir, desktop.AccessConfigKey)); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port := gatewaytest.FreePort(t)
	mport := gatewaytest.FreePort(t)
	srv, err := gateway.New(gateway.Config{
		Listen:           "127.0.0.1:" + strconv.Itoa(port),
		MetricsListen:    "127.0.0.1:" + strconv.Itoa(mport),
		AccessConfigFile: filepath.Join(dir, desktop.AccessConfigKey),
		Desktop:          "desk-3",
		VNCAddr:          "127.0.0.1:1",
		Logger:           slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitFor(t, func() bool {
		resp, err := http.Get(base + gateway.HealthzPath)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	status := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.Header.Set(accessjwt.Header, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// The set-wide audience applies; a desktop's own does not exist yet.
	if got := status(iss.Token(t, user, "aud-set")); got != http.StatusOK {
		t.Fatalf("set audience: %d", got)
	}
	if got := status(iss.Token(t, user, "aud-own")); got != http.StatusForbidden {
		t.Fatalf("own audience before the change: %d", got)
	}

	// The new generation adds the desktop's audience and restricts users;
	// it names the desktop pod3 and finds it by its pod, desk-3.
	write("..gen2", desktop.AccessConfig{TeamDomain: iss.URL, AUD: []string{"aud-set"},
		Desktops: map[string]desktop.DesktopAccess{
			"pod3": {Pod: "desk-3", AUD: []string{"aud-own"}, Users: []string{user}},
			"pod4": {Pod: "desk-4", AUD: []string{"aud-other"}},
		}})
	waitFor(t, func() bool { return status(iss.Token(t, user, "aud-own")) == http.StatusOK })
	if got := status(iss.Token(t, user, "aud-other")); got != http.StatusForbidden {
		t.Errorf("another desktop's audience: %d", got)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.Header.Set(accessjwt.Header, iss.Token(t, user, "aud-own"))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), "<title>pod3") {
			t.Errorf("page does not name the desktop pod3")
		}
	}
	if got := status(iss.Token(t, "eve@example.com", "aud-own")); got != http.StatusForbidden {
		t.Errorf("user outside the new list: %d", got)
	}

	// A broken file keeps the last good policy.
	write("..gen3", desktop.AccessConfig{})
	if err := os.WriteFile(filepath.Join(dir, "..gen3", desktop.AccessConfigKey),
		[]byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "access config not applied") })
	if got := status(iss.Token(t, user, "aud-own")); got != http.StatusOK {
		t.Errorf("after a broken file: %d", got)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// recorder keeps a copy of everything read, to search it afterwards.
type recorder struct {
	rw  io.ReadWriter
	log *bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.rw.Read(p)
	r.log.Write(p[:n])
	return n, err
}

func (r *recorder) Write(p []byte) (int, error) { return r.rw.Write(p) }

func findLog(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no log line %q in %s", msg, logs)
	return nil
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A pod holds only the digest of its local-access secret: the secret opens
// the desktop, the digest itself does not, and a cookie does not outlive
// the gateway process that signed it.
func TestLocalAccessWithDigest(t *testing.T) {
	x := gatewaytest.StartXvnc(t, gatewaytest.XvncOptions{})
	digest := gateway.LocalSecretDigest(localSecret)
	if !strings.HasPrefix(digest, "sha256:") || strings.Contains(digest, localSecret) {
		t.Fatalf("digest %q", digest)
	}
	digestFile := filepath.Join(t.TempDir(), "desk-3.local")
	if err := os.WriteFile(digestFile, []byte(digest+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, x.Addr, func(c *gateway.Config) { c.LocalSecretFile = digestFile })
	post := func(f *fixture, secret string) *http.Response {
		resp, err := http.PostForm(f.ts.URL+gateway.LocalAuthPath, url.Values{"secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(f, digest); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the digest itself was taken as the secret: %d", resp.StatusCode)
	}
	resp := post(f, localSecret)
	if resp.StatusCode != http.StatusNoContent || len(resp.Cookies()) != 1 {
		t.Fatalf("the secret against its digest: %d", resp.StatusCode)
	}
	cookie := resp.Cookies()[0]
	if resp, _ := f.get(t, "/", "", cookie); resp.StatusCode != http.StatusOK {
		t.Errorf("page with the cookie: %d", resp.StatusCode)
	}

	// Another gateway with the same file does not take the first one's
	// cookie: its key is its own.
	other := newFixture(t, x.Addr, func(c *gateway.Config) { c.LocalSecretFile = digestFile })
	if resp, _ := other.get(t, "/", "", cookie); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cookie crossed gateways: %d", resp.StatusCode)
	}
}
