package cloudflare

import (
	"testing"
	"time"
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
