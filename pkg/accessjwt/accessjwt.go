// Package accessjwt verifies the application tokens that Cloudflare Access
// puts in the Cf-Access-Jwt-Assertion header of every request it forwards to
// an origin.
//
// A token is accepted only when it is signed with RS256 by one of the team's
// current keys, its issuer is the team URL, one of its audiences is expected
// and the current time lies between its not-before and expiry times, give or
// take a small leeway. Signature checks are done by go-jose. The team's keys
// are fetched from <team URL>/cdn-cgi/access/certs, cached, and fetched again
// when they grow old or when a token names a key id that is not cached; such
// refetches are rate-limited, so a stream of forged key ids cannot turn the
// verifier into a load generator against the team's endpoint.
package accessjwt

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Header is the request header that carries the token.
const Header = "Cf-Access-Jwt-Assertion"

// Defaults used when the matching Config field is zero.
const (
	DefaultLeeway      = 30 * time.Second
	DefaultMinRefetch  = 30 * time.Second
	DefaultMaxKeyAge   = time.Hour
	DefaultHTTPTimeout = 10 * time.Second
)

// maxCertsBody bounds the size of a key set response.
const maxCertsBody = 1 << 20

// Reason names why a token was refused. Reasons are fit for metric labels:
// a small fixed set that never holds user data.
type Reason string

// The reasons a token is refused.
const (
	ReasonMissing     Reason = "missing"
	ReasonMalformed   Reason = "malformed"
	ReasonAlgorithm   Reason = "algorithm"
	ReasonUnknownKey  Reason = "unknown_key"
	ReasonSignature   Reason = "signature"
	ReasonExpired     Reason = "expired"
	ReasonNotYetValid Reason = "not_yet_valid"
	ReasonIssuer      Reason = "issuer"
	ReasonAudience    Reason = "audience"
	ReasonKeys        Reason = "keys_unavailable"
)

// Error is a refused token, with the reason and the underlying cause.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "accessjwt: " + string(e.Reason)
	}
	return fmt.Sprintf("accessjwt: %s: %v", e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the reason of a refusal returned by Verify, or "" when err
// is not one.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func refuse(r Reason, err error) error { return &Error{Reason: r, Err: err} }

// Claims are the parts of a verified token that an origin uses.
type Claims struct {
	// Email is the signed-in user; empty for service tokens.
	Email string
	// CommonName names a service token; empty for users.
	CommonName string
	// Subject is the user's or service token's id at Access.
	Subject string
	// Issuer is the team URL.
	Issuer string
	// Audience lists the Access application tags the token is valid for.
	Audience []string
	// Expiry is when the token stops being valid.
	Expiry time.Time
	// Type is the token type, "app" for application tokens.
	Type string
}

// Identity returns the email for a user and the common name for a service
// token.
func (c *Claims) Identity() string {
	if c.Email != "" {
		return c.Email
	}
	return c.CommonName
}

// Config configures a Verifier. Only Issuer is required.
type Config struct {
	// Issuer is the team URL, e.g. https://myteam.cloudflareaccess.com, as
	// returned by TeamURL. A token's iss must equal it.
	Issuer string

	// HTTPClient fetches the key set. The default has a 10 s timeout.
	HTTPClient *http.Client

	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration

	// MinRefetch is the least time between two fetches of the key set.
	MinRefetch time.Duration

	// MaxKeyAge is how long fetched keys are used before they are refreshed.
	// When a refresh fails, the cached keys stay in use.
	MaxKeyAge time.Duration

	// Now returns the current time; time.Now by default. Tests set it.
	Now func() time.Time
}

// Verifier checks Access tokens against one team's keys. It is safe for
// concurrent use. Creating one does no I/O; the keys are fetched on first
// use.
type Verifier struct {
	cfg      Config
	certsURL string

	// fetchMu serialises key set fetches.
	fetchMu sync.Mutex

	mu        sync.RWMutex
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time
	triedAt   time.Time
	fetches   int
}

// TeamURL turns a --team-domain value into the issuer URL: a bare host such
// as myteam.cloudflareaccess.com means https:// that host, and a full URL is
// kept as is, without a trailing slash.
func TeamURL(teamDomain string) (string, error) {
	s := strings.TrimSpace(teamDomain)
	if s == "" {
		return "", errors.New("accessjwt: empty team domain")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("accessjwt: team domain %q: %w", teamDomain, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("accessjwt: team domain %q is not a host or a URL", teamDomain)
	}
	return strings.TrimRight(s, "/"), nil
}

// CertsURL returns where the team at issuer publishes its signing keys.
func CertsURL(issuer string) string {
	return strings.TrimRight(issuer, "/") + "/cdn-cgi/access/certs"
}

// New returns a Verifier for the team at cfg.Issuer.
func New(cfg Config) (*Verifier, error) {
	if _, err := TeamURL(cfg.Issuer); err != nil || !strings.Contains(cfg.Issuer, "://") {
		return nil, fmt.Errorf("accessjwt: issuer %q must be a URL", cfg.Issuer)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MinRefetch == 0 {
		cfg.MinRefetch = DefaultMinRefetch
	}
	if cfg.MaxKeyAge == 0 {
		cfg.MaxKeyAge = DefaultMaxKeyAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg, certsURL: CertsURL(cfg.Issuer)}, nil
}

// Issuer returns the team URL that tokens must name.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// Fetches returns how many times the key set has been requested, for
// observing the rate limit.
func (v *Verifier) Fetches() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.fetches
}

// Verify checks raw and returns its claims. audiences lists the tags the
// token may carry; with none, every token is refused. A refusal is an *Error.
func (v *Verifier) Verify(ctx context.Context, raw string, audiences []string) (*Claims, error) {
	if raw == "" {
		return nil, refuse(ReasonMissing, nil)
	}

	// Parse, accepting only RS256 so that none and HMAC tokens never reach
	// a key.
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		if alg := headerAlg(raw); alg != "" && alg != string(jose.RS256) {
			return nil, refuse(ReasonAlgorithm, fmt.Errorf("alg %q", alg))
		}
		return nil, refuse(ReasonMalformed, err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, refuse(ReasonMalformed, errors.New("no key id"))
	}

	// Find the key, refetching once for an id not seen yet.
	key, err := v.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}

	// Check the signature, then the claims.
	var std jwt.Claims
	var extra struct {
		Email      string `json:"email"`
		CommonName string `json:"common_name"`
		Type       string `json:"type"`
	}
	if err := tok.Claims(key, &std, &extra); err != nil {
		return nil, refuse(ReasonSignature, err)
	}
	if err := v.validate(std, audiences); err != nil {
		return nil, err
	}
	return &Claims{
		Email:      extra.Email,
		CommonName: extra.CommonName,
		Subject:    std.Subject,
		Issuer:     std.Issuer,
		Audience:   std.Audience,
		Expiry:     std.Expiry.Time(),
		Type:       extra.Type,
	}, nil
}

// validate checks the registered claims of a token whose signature holds.
func (v *Verifier) validate(std jwt.Claims, audiences []string) error {
	if std.Expiry == nil {
		return refuse(ReasonExpired, errors.New("no exp claim"))
	}
	err := std.ValidateWithLeeway(jwt.Expected{Issuer: v.cfg.Issuer, Time: v.cfg.Now()},
		v.cfg.Leeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return refuse(ReasonIssuer, err)
	case errors.Is(err, jwt.ErrExpired):
		return refuse(ReasonExpired, err)
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return refuse(ReasonNotYetValid, err)
	case err != nil:
		return refuse(ReasonMalformed, err)
	}
	for _, want := range audiences {
		if want != "" && std.Audience.Contains(want) {
			return nil
		}
	}
	return refuse(ReasonAudience, fmt.Errorf("audience %q not expected", []string(std.Audience)))
}

// headerAlg returns the alg named in a compact token's header, or "" when the
// header cannot be read. It only classifies refusals; it decides nothing.
func headerAlg(raw string) string {
	head, _, ok := strings.Cut(raw, ".")
	if !ok || len(head) > 4096 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Alg
}

// key returns the cached key with id kid, fetching the key set when the
// cache is old or does not hold kid and the rate limit allows.
func (v *Verifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k, fresh := v.cached(kid)
	if k != nil && fresh {
		return k, nil
	}

	// Fetch at most once at a time; a waiter rechecks what the fetch brought.
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	k, fresh = v.cached(kid)
	if k != nil && fresh {
		return k, nil
	}
	fetchErr := v.refetch(ctx)
	if k2, _ := v.cached(kid); k2 != nil {
		return k2, nil
	}
	if k != nil {
		// An old key that the failed refresh did not replace stays usable.
		return k, nil
	}
	if fetchErr != nil && !v.haveKeys() {
		return nil, refuse(ReasonKeys, fetchErr)
	}
	return nil, refuse(ReasonUnknownKey, fmt.Errorf("key id %q", kid))
}

// cached returns the key with id kid and whether the key set is fresh.
func (v *Verifier) cached(kid string) (*rsa.PublicKey, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	fresh := !v.fetchedAt.IsZero() && v.cfg.Now().Sub(v.fetchedAt) < v.cfg.MaxKeyAge
	return v.keys[kid], fresh
}

func (v *Verifier) haveKeys() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.keys) > 0
}

// refetch fetches the key set unless the last attempt was too recent.
func (v *Verifier) refetch(ctx context.Context) error {
	now := v.cfg.Now()
	v.mu.Lock()
	if !v.triedAt.IsZero() && now.Sub(v.triedAt) < v.cfg.MinRefetch {
		v.mu.Unlock()
		return errors.New("key set fetched too recently")
	}
	v.triedAt = now
	v.fetches++
	v.mu.Unlock()

	keys, err := v.fetch(ctx)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.keys = keys
	v.fetchedAt = now
	v.mu.Unlock()
	return nil
}

// fetch downloads and parses the key set, keeping RSA signing keys only.
func (v *Verifier) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.certsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("key set request: %w", err)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch key set: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCertsBody))
	if err != nil {
		return nil, fmt.Errorf("read key set: %w", err)
	}

	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("parse key set: %w", err)
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok || k.KeyID == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		keys[k.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("key set holds no RSA signing keys")
	}
	return keys, nil
}
