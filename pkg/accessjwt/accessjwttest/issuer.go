// Package accessjwttest runs a stand-in Cloudflare Access team for tests: an
// HTTP server on loopback that publishes RS256 keys at the path Access uses
// and mints tokens signed with them, including the malformed and forged
// tokens that an origin must refuse.
package accessjwttest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is a stand-in Access team. Its URL is the issuer of its tokens.
type Issuer struct {
	// URL is the team URL, e.g. http://127.0.0.1:41234.
	URL string

	srv     *httptest.Server
	mu      sync.Mutex
	keys    []signingKey
	fetches int
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// NewIssuer starts an issuer with one key and stops it when the test ends.
func NewIssuer(tb testing.TB) *Issuer {
	tb.Helper()
	iss := &Issuer{}
	iss.Rotate(tb)
	iss.srv = httptest.NewServer(http.HandlerFunc(iss.serveCerts))
	iss.URL = iss.srv.URL
	tb.Cleanup(iss.srv.Close)
	return iss
}

// serveCerts publishes the public keys in the shape Access uses.
func (iss *Issuer) serveCerts(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/cdn-cgi/access/certs" {
		http.NotFound(w, r)
		return
	}
	iss.mu.Lock()
	iss.fetches++
	set := jose.JSONWebKeySet{}
	for _, k := range iss.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig",
		})
	}
	iss.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

// Rotate adds a new current signing key; older keys stay published.
func (iss *Issuer) Rotate(tb testing.TB) {
	tb.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys = append(iss.keys, signingKey{kid: fmt.Sprintf("key-%d", len(iss.keys)+1),
		priv: priv})
}

// Fetches returns how often the key set was requested.
func (iss *Issuer) Fetches() int {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.fetches
}

// Claims returns the claims of a valid token for email and audience aud,
// valid from a minute ago for an hour. Tests change fields before signing.
func (iss *Issuer) Claims(email string, aud ...string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":   iss.URL,
		"aud":   aud,
		"email": email,
		"sub":   "sub-" + email,
		"type":  "app",
		"iat":   now.Add(-time.Minute).Unix(),
		"nbf":   now.Add(-time.Minute).Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
}

// Token returns a valid token for email and audience aud.
func (iss *Issuer) Token(tb testing.TB, email string, aud ...string) string {
	tb.Helper()
	return iss.Sign(tb, iss.Claims(email, aud...))
}

// Sign signs claims with the current key.
func (iss *Issuer) Sign(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	iss.mu.Lock()
	k := iss.keys[len(iss.keys)-1]
	iss.mu.Unlock()
	return SignRS256(tb, k.priv, k.kid, claims)
}

// SignUnpublished signs claims with a fresh key that the issuer never
// publishes, under key id kid.
func (iss *Issuer) SignUnpublished(tb testing.TB, kid string, claims map[string]any) string {
	tb.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	return SignRS256(tb, priv, kid, claims)
}

// SignHS256WithPublicKey forges a token signed with HMAC-SHA256 keyed by the
// current public key in PEM form: the classic algorithm-confusion attack.
func (iss *Issuer) SignHS256WithPublicKey(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	iss.mu.Lock()
	k := iss.keys[len(iss.keys)-1]
	iss.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	signing := compact(tb, map[string]any{"alg": "HS256", "kid": k.kid, "typ": "JWT"}, claims)
	mac := hmac.New(sha256.New, pemKey)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// SignNone returns an unsigned token with alg none.
func (iss *Issuer) SignNone(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	iss.mu.Lock()
	kid := iss.keys[len(iss.keys)-1].kid
	iss.mu.Unlock()
	return compact(tb, map[string]any{"alg": "none", "kid": kid, "typ": "JWT"}, claims) + "."
}

// Tamper changes one character of the token's signature.
func Tamper(token string) string {
	b := []byte(token)
	i := len(b) - 5
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// SignRS256 signs claims with priv, naming kid in the header.
func SignRS256(tb testing.TB, priv *rsa.PrivateKey, kid string, claims map[string]any) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: priv}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// compact encodes a header and claims as the first two parts of a token.
func compact(tb testing.TB, header, claims map[string]any) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." +
		base64.RawURLEncoding.EncodeToString(c)
}
