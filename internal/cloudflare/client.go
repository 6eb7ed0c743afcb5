package cloudflare

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	cf "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/ips"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"golang.org/x/time/rate"
)

// Cloudflare allows 1,200 requests per 5 minutes per token, and blocks every
// call for 5 minutes past that. The limiter keeps a margin: a token bucket
// with burst b and rate r admits at most b + 300*r requests in any 5
// minutes, here 100 + 1,050 = 1,150.
const (
	// APIBudget is Cloudflare's request limit per BudgetWindow.
	APIBudget = 1200
	// BudgetWindow is the window of APIBudget.
	BudgetWindow = 5 * time.Minute

	limiterBurst = 100
	limiterRate  = rate.Limit(3.5)

	// defaultMaxRetries bounds the SDK's retries of 408, 409, 429 and 5xx.
	defaultMaxRetries = 4
)

// NewLimiter returns the client-side rate limiter deskctl uses by default.
func NewLimiter() *rate.Limiter { return rate.NewLimiter(limiterRate, limiterBurst) }

// clientOptions are the SDK options shared by the backend and IPRanges.
func clientOptions(opts Options, token string, lim *rate.Limiter,
	log *slog.Logger) []option.RequestOption {
	retries := opts.MaxRetries
	switch {
	case retries == 0:
		retries = defaultMaxRetries
	case retries < 0:
		retries = 0
	}
	out := []option.RequestOption{
		option.WithMaxRetries(retries),
		option.WithMiddleware(limitAndLog(lim, log)),
	}
	if token != "" {
		out = append(out, option.WithAPIToken(token))
	}
	if opts.BaseURL != "" {
		out = append(out, option.WithBaseURL(opts.BaseURL))
	}
	if opts.HTTPClient != nil {
		out = append(out, option.WithHTTPClient(opts.HTTPClient))
	}
	return out
}

// limitAndLog waits for the rate limiter before every attempt, retries
// included, since Cloudflare counts each one, and logs each attempt at
// debug level. It never logs headers, so the token stays out of the logs.
func limitAndLog(lim *rate.Limiter, log *slog.Logger) option.Middleware {
	return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		if err := lim.Wait(req.Context()); err != nil {
			return nil, fmt.Errorf("waiting for the Cloudflare rate limiter: %w", err)
		}
		start := time.Now()
		res, err := next(req)
		attrs := []any{"method", req.Method, "path", req.URL.Path,
			"attempt", req.Header.Get("X-Stainless-Retry-Count"),
			"duration", time.Since(start).Round(time.Millisecond)}
		switch {
		case err != nil:
			log.Debug("cloudflare request failed", append(attrs, "error", err)...)
		case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 ||
			res.StatusCode == http.StatusRequestTimeout || res.StatusCode == http.StatusConflict:
			log.Debug("cloudflare request failed, the client may retry", append(attrs,
				"status", res.StatusCode, "retry_after", res.Header.Get("Retry-After"))...)
		default:
			log.Debug("cloudflare request", append(attrs, "status", res.StatusCode)...)
		}
		return res, err
	}
}

// IPRanges returns Cloudflare's published IPv4 and IPv6 ranges, for the
// origin lock that admits only Cloudflare at the load balancers. Of opts,
// only BaseURL, HTTPClient, MaxRetries and Logger matter; the endpoint is
// public, so no token is sent.
func IPRanges(ctx context.Context, opts Options) ([]string, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lim := opts.Limiter
	if lim == nil {
		lim = NewLimiter()
	}
	client := cf.NewClient(clientOptions(opts, "", lim, log)...)
	res, err := client.IPs.List(ctx, ips.IPListParams{})
	if err != nil {
		return nil, fmt.Errorf("listing Cloudflare's IP ranges: %w", err)
	}
	var ranges struct {
		IPv4 []string `json:"ipv4_cidrs"`
		IPv6 []string `json:"ipv6_cidrs"`
	}
	if err := json.Unmarshal([]byte(res.JSON.RawJSON()), &ranges); err != nil {
		return nil, fmt.Errorf("reading Cloudflare's IP ranges: %w", err)
	}
	out := append(ranges.IPv4, ranges.IPv6...)
	if len(out) == 0 {
		return nil, fmt.Errorf("Cloudflare published no IP ranges")
	}
	return out, nil
}

// pageSize is how many items deskctl asks for per list page.
const pageSize = 100

// maxPages stops a list that never ends.
const maxPages = 1000

// listAll reads a paginated list. fetch returns the raw body of one page.
// It stops at a page shorter than pageSize, or at the last page the result
// info names, which saves the empty page an SDK auto-pager would fetch.
func listAll[T any](fetch func(page int64) (string, error)) ([]T, error) {
	var out []T
	for page := int64(1); page <= maxPages; page++ {
		raw, err := fetch(page)
		if err != nil {
			return nil, err
		}
		var env struct {
			Result     []T `json:"result"`
			ResultInfo struct {
				TotalPages int64 `json:"total_pages"`
			} `json:"result_info"`
		}
		if err := json.Unmarshal([]byte(raw), &env); err != nil {
			return nil, fmt.Errorf("reading page %d: %w", page, err)
		}
		out = append(out, env.Result...)
		if len(env.Result) < pageSize || env.ResultInfo.TotalPages > 0 && page >= env.ResultInfo.TotalPages {
			return out, nil
		}
	}
	return nil, fmt.Errorf("list has more than %d pages", maxPages)
}
