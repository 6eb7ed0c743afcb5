package cloudflare

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/deskctl/deskctl/internal/cloudflare/cftest"
)

// TestLimiterStaysUnderBudget drives the default limiter as fast as it
// admits, on a simulated clock, over Cloudflare's 5-minute window.
func TestLimiterStaysUnderBudget(t *testing.T) {
	lim := NewLimiter()
	start := time.Now()
	admitted := 0
	for at := start; at.Before(start.Add(BudgetWindow)); at = at.Add(10 * time.Millisecond) {
		if lim.AllowN(at, 1) {
			admitted++
		}
	}
	if admitted >= APIBudget {
		t.Errorf("the limiter admits %d requests in %s, Cloudflare allows %d",
			admitted, BudgetWindow, APIBudget)
	}
	if admitted < APIBudget*3/4 {
		t.Errorf("the limiter admits only %d requests in %s: too slow", admitted, BudgetWindow)
	}
}

func TestBaseURLFromEnvironment(t *testing.T) {
	srv := cftest.New(t)
	t.Setenv("CLOUDFLARE_BASE_URL", srv.URL)
	if _, err := IPRanges(context.Background(), Options{MaxRetries: -1}); err != nil {
		t.Fatalf("IPRanges with CLOUDFLARE_BASE_URL: %v", err)
	}
	if n := srv.Count(http.MethodGet, "/ips"); n != 1 {
		t.Errorf("the fake saw %d IP range requests, want 1", n)
	}
}
