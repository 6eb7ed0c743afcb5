package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// LocalURL is the address that `deskctl open --local` opens once it has
// port-forwarded local port to the gateway port: the page at / with the
// desktop's local-access secret in the URL fragment, which browsers never
// send to a server. The refusal page that / first answers posts the secret
// to LocalAuthPath, which sets a short-lived cookie, and reloads.
func LocalURL(port int, secret string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/#local=%s", port, url.QueryEscape(secret))
}

// maxSecret bounds the secret read from a request body.
const maxSecret = 1024

// LocalSecretDigest is how a desktop pod holds its local-access secret:
// "sha256:" and the hex SHA-256 of the secret. A gateway can check a
// secret against it, but nobody who reads the mounted file learns the
// secret, so one desktop's user cannot open another desktop.
func LocalSecretDigest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return digestPrefix + hex.EncodeToString(sum[:])
}

const digestPrefix = "sha256:"

// secretMatches compares a presented secret with the stored one, a plain
// secret or a LocalSecretDigest, in constant time.
func secretMatches(given, stored string) bool {
	if given == "" || stored == "" {
		return false
	}
	want := LocalSecretDigest(stored)
	if strings.HasPrefix(stored, digestPrefix) {
		want = stored
	}
	got := LocalSecretDigest(given)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// localSecret reads the local-access secret, or its digest, from its file
// at every use, so a rotated Secret applies at once. It returns "" when the
// path is disabled.
func (s *Server) localSecret() string {
	if s.cfg.LocalSecretFile == "" {
		return ""
	}
	b, err := os.ReadFile(s.cfg.LocalSecretFile)
	if err != nil {
		s.log.Warn("local-access secret unreadable", "file", s.cfg.LocalSecretFile, "err", err)
		return ""
	}
	return strings.TrimSpace(string(b))
}

// cookieName is per desktop: browsers share cookies across the ports of
// 127.0.0.1, and two desktops may be open locally at once.
func (s *Server) cookieName() string {
	name := "deskgate_local"
	if s.cfg.Desktop != "" {
		name += "_" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, s.cfg.Desktop)
	}
	return name
}

// cookieMAC signs a cookie's expiry for this desktop with a key derived
// from this process's random key and the stored secret: rotating the secret
// voids every cookie, and knowing a digest is not enough to forge one.
func (s *Server) cookieMAC(secret, expiry string) []byte {
	key := hmac.New(sha256.New, s.cookieKey)
	key.Write([]byte(secret))
	key.Write([]byte("deskgate local-access cookie"))
	mac := hmac.New(sha256.New, key.Sum(nil))
	mac.Write([]byte(s.cfg.Desktop + "|" + expiry))
	return mac.Sum(nil)
}

// serveLocalAuth exchanges the local-access secret, posted as the form
// field "secret", for an HttpOnly SameSite=Strict cookie.
func (s *Server) serveLocalAuth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	secret := s.localSecret()
	if secret == "" {
		s.deny(w, r, reasonLocalDisabled)
		return
	}

	// Compare digests in constant time, so neither content nor length leaks.
	r.Body = http.MaxBytesReader(w, r.Body, maxSecret)
	if !secretMatches(r.PostFormValue("secret"), secret) {
		s.deny(w, r, reasonLocalSecret)
		return
	}

	expiry := strconv.FormatInt(time.Now().Add(s.cfg.LocalCookieTTL).Unix(), 10)
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(),
		Value:    expiry + "." + base64.RawURLEncoding.EncodeToString(s.cookieMAC(secret, expiry)),
		Path:     "/",
		MaxAge:   int(s.cfg.LocalCookieTTL / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	s.log.Info("local access granted", "desktop", s.cfg.Desktop, "remote", r.RemoteAddr)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// validLocalCookie reports whether the request carries an unexpired cookie
// signed under the current secret.
func (s *Server) validLocalCookie(r *http.Request) bool {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return false
	}
	expiry, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(expiry, 10, 64)
	now := time.Now()
	if err != nil || now.Unix() >= exp ||
		time.Unix(exp, 0).After(now.Add(s.cfg.LocalCookieTTL+time.Minute)) {
		return false
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	secret := s.localSecret()
	return secret != "" && hmac.Equal(mac, s.cookieMAC(secret, expiry))
}
