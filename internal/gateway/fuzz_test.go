package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/deskctl/deskctl/internal/gateway"
	"github.com/deskctl/deskctl/pkg/accessjwt"
	"github.com/deskctl/deskctl/pkg/accessjwt/accessjwttest"
)

// FuzzAuthorize sends arbitrary token headers and cookies to the page. A
// request gets in only with a token that the verifier accepts on its own, or
// with the cookie that the local secret was exchanged for; everything else is
// refused with 403, and no input makes the gateway panic.
func FuzzAuthorize(f *testing.F) {
	iss := accessjwttest.NewIssuer(f)
	dir := f.TempDir()
	secretFile := dir + "/desk-3.local"
	if err := writeFile(secretFile, localSecret); err != nil {
		f.Fatal(err)
	}
	srv, err := gateway.New(gateway.Config{
		TeamDomain:      iss.URL,
		Audiences:       []string{aud},
		AllowEmails:     []string{user},
		Desktop:         "desk-3",
		VNCAddr:         "127.0.0.1:1",
		LocalSecretFile: secretFile,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	verifier, err := accessjwt.New(accessjwt.Config{Issuer: iss.URL})
	if err != nil {
		f.Fatal(err)
	}

	// The one valid cookie, from the real exchange.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, gateway.LocalAuthPath,
		strings.NewReader(url.Values{"secret": {localSecret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		f.Fatalf("no cookie from the exchange: %d", rec.Code)
	}
	valid := cookies[0]

	claims := iss.Claims(user, aud)
	f.Add(iss.Token(f, user, aud), "")
	f.Add(iss.Token(f, "eve@example.com", aud), "")
	f.Add(iss.SignNone(f, claims), "")
	f.Add(iss.SignHS256WithPublicKey(f, claims), "")
	// Each fuzzing process mints its own cookie, whose expiry may differ by
	// a second, so inputs name it as VALID.
	f.Add("", "VALID")
	f.Add("", "1"+"VALID")
	f.Add("", strings.Replace(valid.Value, ".", "0.", 1))
	f.Fuzz(func(t *testing.T, token, cookie string) {
		cookie = strings.ReplaceAll(cookie, "VALID", valid.Value)
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set(accessjwt.Header, token)
		req.Header.Set("Cookie", valid.Name+"="+cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusForbidden:
			return
		case http.StatusOK:
		default:
			t.Fatalf("status %d", rec.Code)
		}

		// Let in: by the cookie, or by a token valid on its own.
		if strings.Trim(cookie, `"`) == valid.Value {
			return
		}
		c, err := verifier.Verify(context.Background(), token, []string{aud})
		if err != nil {
			t.Fatalf("let in with a token the verifier refuses (%v): %q", err, token)
		}
		if !strings.EqualFold(c.Email, user) {
			t.Fatalf("let in %q, who is not allowed", c.Email)
		}
	})
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content+"\n"), 0o600)
}
