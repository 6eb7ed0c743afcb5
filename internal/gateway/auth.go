package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"

	"github.com/deskctl/deskctl/pkg/accessjwt"
)

// Refusal reasons of the gateway itself, beside accessjwt's reasons.
const (
	reasonNoTeam        = "no_team"
	reasonEmail         = "email"
	reasonLocalSecret   = "local_secret"
	reasonLocalDisabled = "local_disabled"
)

// identity is who a request was let in as.
type identity struct {
	// Email is the Access identity (a service token's common name when it
	// has no email); empty on the local path.
	Email string
	// Local is true when the local-access cookie let the request in.
	Local bool
}

// logName is the identity as the audit log shows it.
func (id identity) logName() string {
	if id.Local {
		return "local-access"
	}
	return id.Email
}

type identityKey struct{}

func identityFrom(ctx context.Context) identity {
	id, _ := ctx.Value(identityKey{}).(identity)
	return id
}

// authorize lets a request through only with a valid local-access cookie or
// a valid Access token whose identity is allowed. The source address counts
// for nothing: a port-forward and a mesh sidecar both arrive on loopback.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The local path: a cookie earlier exchanged for the secret.
		if s.validLocalCookie(r) {
			ctx := context.WithValue(r.Context(), identityKey{}, identity{Local: true})
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}

		// The Access path: the token header on every request.
		p := s.policy.Load()
		if p.verifier == nil {
			s.deny(w, r, reasonNoTeam)
			return
		}
		claims, err := p.verifier.Verify(r.Context(), r.Header.Get(accessjwt.Header), p.audiences)
		if err != nil {
			s.deny(w, r, string(accessjwt.ReasonOf(err)))
			return
		}
		if !p.allows(claims.Identity()) {
			s.deny(w, r, reasonEmail)
			return
		}
		ctx := context.WithValue(r.Context(), identityKey{}, identity{Email: claims.Identity()})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// reasonText explains a refusal to a person.
var reasonText = map[string]string{
	string(accessjwt.ReasonMissing):     "This request did not come through Cloudflare Access.",
	string(accessjwt.ReasonExpired):     "Your Access session has expired.",
	string(accessjwt.ReasonNotYetValid): "Your Access token is not valid yet; check the clock.",
	string(accessjwt.ReasonAudience):    "Your Access token is for another application.",
	reasonEmail:                         "Your account is not allowed on this desktop.",
	reasonLocalSecret:                   "The local access link is not valid.",
	reasonLocalDisabled:                 "Local access is not enabled on this desktop.",
	reasonNoTeam:                        "This desktop has no Access configuration yet.",
}

// deniedPage is the short page a refused browser sees. Its script completes
// the local path: a secret in the URL fragment is exchanged for a cookie and
// the page reloads.
var deniedPage = template.Must(template.New("denied").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Access denied</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 4em auto">
<h1>Access denied</h1>
<p id="msg">{{.Text}}</p>
<p>Sign in through your organisation's Cloudflare Access and reload this page.</p>
<script nonce="{{.Nonce}}">
(function () {
  var m = /(?:^#|&)local=([^&]*)/.exec(location.hash);
  if (!m) return;
  history.replaceState(null, "", location.pathname + location.search);
  document.getElementById("msg").textContent = "Opening the local session\u2026";
  fetch("{{.LocalAuthPath}}", {
    method: "POST",
    headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: "secret=" + m[1],
    credentials: "same-origin"
  }).then(function (r) {
    if (r.ok) { location.reload(); return; }
    document.getElementById("msg").textContent =
      "The local access link is not valid. Run deskctl open --local again.";
  });
})();
</script></body></html>
`))

// deny answers 403 and counts the refusal. Browsers get a short page;
// everything else a line of text.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, reason string) {
	if reason == "" {
		reason = string(accessjwt.ReasonMalformed)
	}
	s.metrics.authFailures.WithLabelValues(reason).Inc()
	s.log.Info("request refused", "desktop", s.cfg.Desktop, "reason", reason,
		"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)

	text, ok := reasonText[reason]
	if !ok {
		text = "Your Access token was not accepted."
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("forbidden: " + reason + "\n"))
		return
	}

	nonce := newNonce()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "+
		"connect-src 'self'; script-src 'nonce-"+nonce+"'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusForbidden)
	_ = deniedPage.Execute(w, map[string]string{
		"Text": text, "Nonce": nonce, "LocalAuthPath": LocalAuthPath,
	})
}

func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}
