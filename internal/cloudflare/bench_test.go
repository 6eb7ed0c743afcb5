package cloudflare

import (
	"net/http"
	"testing"
)

// BenchmarkCloudflareScale measures the Cloudflare requests of scaling a
// set from 0 to 100 desktops and back to 0, against the fake API. The
// metrics are request counts per run, not times.
func BenchmarkCloudflareScale(b *testing.B) {
	const n = 100
	for b.Loop() {
		h := newHarness(b)

		h.mustRun(n)
		up := h.srv.Requests()
		upDNS := h.srv.Count(http.MethodPost, "/dns_records")
		upApps := h.srv.Count(http.MethodPost, "/access/apps")
		h.srv.ResetLog()

		h.mustRun(0)
		down := h.srv.Requests()
		downDNS := h.srv.Count(http.MethodPost, "/dns_records")
		downApps := h.srv.Count(http.MethodDelete, "/access/apps")

		// DNS writes go in batches of at most 200; the whole run stays far
		// below Cloudflare's budget.
		if maxDNS := (n + maxBatch - 1) / maxBatch; upDNS > maxDNS || downDNS > maxDNS {
			b.Fatalf("DNS writes: %d up, %d down, want at most %d", upDNS, downDNS, maxDNS)
		}
		if len(up) > APIBudget/2 || len(down) > APIBudget/2 {
			b.Fatalf("requests: %d up, %d down, want far below %d", len(up), len(down), APIBudget)
		}
		b.ReportMetric(float64(len(up)), "requests-up")
		b.ReportMetric(float64(upDNS), "dns-writes-up")
		b.ReportMetric(float64(upApps), "app-writes-up")
		b.ReportMetric(float64(len(down)), "requests-down")
		b.ReportMetric(float64(downDNS), "dns-writes-down")
		b.ReportMetric(float64(downApps), "app-writes-down")
	}
}
