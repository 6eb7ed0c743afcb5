package accessjwt_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/deskctl/deskctl/pkg/accessjwt"
	"github.com/deskctl/deskctl/pkg/accessjwt/accessjwttest"
)

const aud = "aud-desk-3"

func newVerifier(t *testing.T, iss *accessjwttest.Issuer,
	now func() time.Time) *accessjwt.Verifier {
	t.Helper()
	v, err := accessjwt.New(accessjwt.Config{Issuer: iss.URL, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTeamURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "myteam.cloudflareaccess.com", want: "https://myteam.cloudflareaccess.com"},
		{in: "https://myteam.cloudflareaccess.com/", want: "https://myteam.cloudflareaccess.com"},
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: "", wantErr: true},
		{in: "ftp://x", wantErr: true},
		{in: "https://x/?a=b", wantErr: true},
	}
	for _, tt := range tests {
		got, err := accessjwt.TeamURL(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("TeamURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestVerifyValid(t *testing.T) {
	iss := accessjwttest.NewIssuer(t)
	v := newVerifier(t, iss, nil)
	token := iss.Token(t, "ada@example.com", aud)
	c, err := v.Verify(context.Background(), token, []string{"other", aud})
	if err != nil {
		t.Fatal(err)
	}
	if c.Email != "ada@example.com" || c.Issuer != iss.URL || c.Type != "app" {
		t.Errorf("claims %+v", c)
	}
}

// TestVerifyRefusals is the negative corpus: every forged, stale or
// misdirected token is refused with its own reason.
func TestVerifyRefusals(t *testing.T) {
	iss := accessjwttest.NewIssuer(t)
	other := accessjwttest.NewIssuer(t)
	now := time.Now()
	with := func(k string, val any) map[string]any {
		c := iss.Claims("ada@example.com", aud)
		c[k] = val
		return c
	}
	tests := []struct {
		name  string
		token string
		want  accessjwt.Reason
	}{
		{"missing", "", accessjwt.ReasonMissing},
		{"garbage", "not.a.token", accessjwt.ReasonMalformed},
		{"expired", iss.Sign(t, with("exp", now.Add(-2*time.Minute).Unix())),
			accessjwt.ReasonExpired},
		{"no exp", iss.Sign(t, with("exp", nil)), accessjwt.ReasonExpired},
		{"not yet valid", iss.Sign(t, with("nbf", now.Add(2*time.Minute).Unix())),
			accessjwt.ReasonNotYetValid},
		{"wrong aud", iss.Sign(t, with("aud", []string{"aud-desk-4"})),
			accessjwt.ReasonAudience},
		{"wrong iss", iss.Sign(t, with("iss", other.URL)), accessjwt.ReasonIssuer},
		{"other team's key", other.Token(t, "ada@example.com", aud),
			accessjwt.ReasonSignature},
		{"tampered signature", accessjwttest.Tamper(iss.Token(t, "ada@example.com", aud)),
			accessjwt.ReasonSignature},
		{"alg none", iss.SignNone(t, iss.Claims("ada@example.com", aud)),
			accessjwt.ReasonAlgorithm},
		{"HS256 with the public key",
			iss.SignHS256WithPublicKey(t, iss.Claims("ada@example.com", aud)),
			accessjwt.ReasonAlgorithm},
		{"unknown kid", iss.SignUnpublished(t, "key-99", iss.Claims("ada@example.com", aud)),
			accessjwt.ReasonUnknownKey},
	}
	v := newVerifier(t, iss, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tt.token, []string{aud})
			if got := accessjwt.ReasonOf(err); got != tt.want {
				t.Errorf("reason %q (%v), want %q; claims %+v", got, err, tt.want, c)
			}
		})
	}

	// With no audience configured, even a valid token is refused.
	_, err := v.Verify(context.Background(), iss.Token(t, "ada@example.com", aud), nil)
	if accessjwt.ReasonOf(err) != accessjwt.ReasonAudience {
		t.Errorf("no audiences: %v", err)
	}
}

// TestUnknownKidRefetch checks that an unknown key id costs exactly one
// fetch, that a second one within the limit costs none, and that a rotated
// key is picked up.
func TestUnknownKidRefetch(t *testing.T) {
	iss := accessjwttest.NewIssuer(t)
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	v := newVerifier(t, iss, now)
	ctx := context.Background()

	// The first token fetches the keys.
	if _, err := v.Verify(ctx, iss.Token(t, "ada@example.com", aud), []string{aud}); err != nil {
		t.Fatal(err)
	}
	if iss.Fetches() != 1 {
		t.Fatalf("fetches %d after first token", iss.Fetches())
	}

	// An unknown kid after the limit has passed refetches once.
	advance(accessjwt.DefaultMinRefetch + time.Second)
	forged := iss.SignUnpublished(t, "key-99", iss.Claims("ada@example.com", aud))
	_, err := v.Verify(ctx, forged, []string{aud})
	if accessjwt.ReasonOf(err) != accessjwt.ReasonUnknownKey || iss.Fetches() != 2 {
		t.Fatalf("unknown kid: %v, fetches %d; want unknown_key after 2", err, iss.Fetches())
	}

	// A burst of unknown kids within the limit fetches nothing more.
	for range 20 {
		_, _ = v.Verify(ctx, forged, []string{aud})
	}
	if iss.Fetches() != 2 {
		t.Fatalf("fetches %d after a burst, want 2", iss.Fetches())
	}

	// A rotated key is fetched once the limit allows, and old tokens stay good.
	old := iss.Token(t, "ada@example.com", aud)
	iss.Rotate(t)
	advance(accessjwt.DefaultMinRefetch + time.Second)
	if _, err := v.Verify(ctx, iss.Token(t, "ada@example.com", aud), []string{aud}); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if _, err := v.Verify(ctx, old, []string{aud}); err != nil {
		t.Fatalf("old key after rotation: %v", err)
	}
	if iss.Fetches() != 3 {
		t.Fatalf("fetches %d after rotation, want 3", iss.Fetches())
	}
}

func TestKeysUnavailable(t *testing.T) {
	v, err := accessjwt.New(accessjwt.Config{Issuer: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	iss := accessjwttest.NewIssuer(t)
	_, err = v.Verify(context.Background(), iss.Token(t, "a@example.com", aud), []string{aud})
	if accessjwt.ReasonOf(err) != accessjwt.ReasonKeys {
		t.Errorf("unreachable key set: %v", err)
	}
}
