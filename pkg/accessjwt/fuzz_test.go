package accessjwt_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deskctl/deskctl/pkg/accessjwt"
	"github.com/deskctl/deskctl/pkg/accessjwt/accessjwttest"
)

// FuzzVerify mutates tokens, valid and forged, and checks that Verify never
// panics, always names a reason when it refuses, and accepts only tokens
// whose claims a valid token would carry.
func FuzzVerify(f *testing.F) {
	iss := accessjwttest.NewIssuer(f)
	v, err := accessjwt.New(accessjwt.Config{Issuer: iss.URL})
	if err != nil {
		f.Fatal(err)
	}
	claims := iss.Claims("ada@example.com", aud)
	f.Add(iss.Token(f, "ada@example.com", aud))
	f.Add(iss.SignNone(f, claims))
	f.Add(iss.SignHS256WithPublicKey(f, claims))
	f.Add(iss.SignUnpublished(f, "key-9", claims))
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(context.Background(), raw, []string{aud})
		if err != nil {
			if accessjwt.ReasonOf(err) == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if c.Issuer != iss.URL || !slices.Contains(c.Audience, aud) ||
			!c.Expiry.After(time.Now().Add(-accessjwt.DefaultLeeway)) {
			t.Fatalf("accepted bad claims %+v", c)
		}
		if strings.Count(raw, ".") != 2 {
			t.Fatalf("accepted a token that is not compact JWS: %q", raw)
		}
	})
}
