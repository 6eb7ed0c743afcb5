// Package cftest is a local, stateful stand-in for the parts of the
// Cloudflare API that deskctl uses: zones, DNS records (with the batch
// endpoint), Access applications and reusable policies, IP ranges, and
// Cloudflare Tunnels with their tokens and configurations.
//
// It is strict on purpose: bodies with unknown or missing fields are
// refused with Cloudflare's error envelope, list pagination ends with an
// empty page, the Access application limit and the batch size limit hold,
// and a rate limit answers 429 with Retry-After. Tests can inject failures
// and read back both the state and a log of every request.
package cftest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults of a new server.
const (
	DefaultZone      = "example.com"
	DefaultAccountID = "0123456789abcdef0123456789abcdef"
	DefaultZoneID    = "fedcba9876543210fedcba9876543210"
	DefaultToken     = "cftest-token"
	// MaxApplications is Cloudflare's limit of Access applications per account.
	MaxApplications = 500
	// MaxBatch is the most records one DNS batch request may carry (Free plan).
	MaxBatch = 200
)

// Server is a running fake Cloudflare API.
type Server struct {
	// URL is the API base URL to give the SDK (it ends in /client/v4/).
	URL string
	// Token is the API token requests must carry as a bearer token.
	Token string
	// AccountID is the account every account-scoped path must name.
	AccountID string
	// ZoneID is the ID of the one zone.
	ZoneID string
	// Zone is the name of the one zone.
	Zone string

	ts *httptest.Server

	mu        sync.Mutex
	seq       int
	records   map[string]*DNSRecord
	apps      map[string]*App
	policies  map[string]*Policy
	tunnels   map[string]*Tunnel
	appLimit  int
	batchMax  int
	rateMax   int
	rateBlock time.Duration
	recent    []time.Time
	blocked   time.Time
	faults    []*fault
	failed    map[string]string
	log       []Request
}

// Option configures a new server.
type Option func(*Server)

// WithZone names the server's zone.
func WithZone(name string) Option { return func(s *Server) { s.Zone = name } }

// WithApplicationLimit changes the Access application limit (500).
func WithApplicationLimit(n int) Option { return func(s *Server) { s.appLimit = n } }

// WithBatchLimit changes the most records per DNS batch request (200).
func WithBatchLimit(n int) Option { return func(s *Server) { s.batchMax = n } }

// WithRateLimit makes the server answer 429, with a Retry-After header,
// once more than max requests arrived within the last window; it then
// refuses every request for window, as Cloudflare does past 1,200 requests
// in 5 minutes, for 5 minutes.
func WithRateLimit(max int, window time.Duration) Option {
	return func(s *Server) { s.rateMax, s.rateBlock = max, window }
}

// New starts a server that stops when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		Token:     DefaultToken,
		AccountID: DefaultAccountID,
		ZoneID:    DefaultZoneID,
		Zone:      DefaultZone,
		records:   map[string]*DNSRecord{},
		apps:      map[string]*App{},
		policies:  map[string]*Policy{},
		tunnels:   map[string]*Tunnel{},
		failed:    map[string]string{},
		appLimit:  MaxApplications,
		batchMax:  MaxBatch,
	}
	for _, o := range opts {
		o(s)
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.ts.Close)
	s.URL = s.ts.URL + "/client/v4/"
	return s
}

// Request is one request the server answered.
type Request struct {
	Method string
	// Path is the path below /client/v4, with IDs replaced by ":id".
	Path string
	// Status is the HTTP status of the answer.
	Status int
	// Retry is the SDK's retry count header, 0 for a first attempt.
	Retry int
}

// Endpoint is "METHOD /path" of the request, as Counts keys it.
func (r Request) Endpoint() string { return r.Method + " " + r.Path }

// Requests returns the log of requests so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Counts returns how many requests each endpoint ("POST
// /zones/:id/dns_records/batch") answered.
func (s *Server) Counts() map[string]int {
	out := map[string]int{}
	for _, r := range s.Requests() {
		out[r.Endpoint()]++
	}
	return out
}

// Count returns how many requests with this method have a path containing
// pathPart; an empty method matches any.
func (s *Server) Count(method, pathPart string) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && strings.Contains(r.Path, pathPart) {
			n++
		}
	}
	return n
}

// Writes returns how many requests other than GET the server answered.
func (s *Server) Writes() int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method != http.MethodGet {
			n++
		}
	}
	return n
}

// ResetLog forgets the requests answered so far.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// fault fails the nth request matching method and path, and every retry of
// that same request (same body), until cleared.
type fault struct {
	method, path string
	n, status    int
	seen         int
	digest       string
}

// FailNth makes the nth request (from 1) whose method matches and whose
// path contains pathPart fail with status. Retries of that request (the
// same body to the same path) fail too, so client retries cannot hide it.
func (s *Server) FailNth(method, pathPart string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, path: pathPart, n: n, status: status})
}

// ClearFaults removes every injected failure.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// FailedBodies returns the bodies of the requests that injected faults
// failed, so a test can tell which object a failure hit.
func (s *Server) FailedBodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, f := range s.faults {
		if f.digest != "" {
			out = append(out, s.failed[f.digest])
		}
	}
	return out
}

// apiError is an error answer in Cloudflare's envelope.
type apiError struct {
	status int
	code   int
	msg    string
}

func errorf(status, code int, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// query is the parsed query string of a request.
type query = map[string][]string

// resultInfo is the pagination block of a list answer.
type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

type envelope struct {
	Success    bool          `json:"success"`
	Errors     []errorDetail `json:"errors"`
	Messages   []errorDetail `json:"messages"`
	Result     any           `json:"result"`
	ResultInfo *resultInfo   `json:"result_info,omitempty"`
}

type errorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{32}$|^[0-9a-f-]{36}$`)

// normalize replaces IDs in a path with ":id".
func normalize(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if idPattern.MatchString(p) {
			parts[i] = ":id"
		}
	}
	return strings.Join(parts, "/")
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, "/client/v4")
	retry, _ := strconv.Atoi(r.Header.Get("X-Stainless-Retry-Count"))

	s.mu.Lock()
	defer s.mu.Unlock()
	status, res, info, hdr := s.answer(r, path, body)
	s.log = append(s.log, Request{Method: r.Method, Path: normalize(path), Status: status, Retry: retry})

	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	env := envelope{Success: status < 300, Errors: []errorDetail{}, Messages: []errorDetail{}}
	if e, ok := res.(*apiError); ok {
		env.Errors = []errorDetail{{Code: e.code, Message: e.msg}}
	} else {
		env.Result, env.ResultInfo = res, info
	}
	_ = json.NewEncoder(w).Encode(env)
}

// answer routes one request. It runs with the lock held.
func (s *Server) answer(r *http.Request, path string,
	body []byte) (int, any, *resultInfo, map[string]string) {
	// The rate limit counts every request, as Cloudflare's does.
	if s.rateMax > 0 {
		now := time.Now()
		if now.Before(s.blocked) {
			return s.tooMany(now)
		}
		// Keep the arrival times within the window, this one included.
		keep := s.recent[:0]
		for _, at := range s.recent {
			if now.Sub(at) < s.rateBlock {
				keep = append(keep, at)
			}
		}
		s.recent = append(keep, now)
		if len(s.recent) > s.rateMax {
			s.recent = nil
			s.blocked = now.Add(s.rateBlock)
			return s.tooMany(now)
		}
	}

	// IP ranges are public; everything else needs the token.
	if path != "/ips" && r.Header.Get("Authorization") != "Bearer "+s.Token {
		e := errorf(http.StatusForbidden, 10000, "Authentication error")
		return e.status, e, nil, nil
	}

	if e := s.injected(r, path, body); e != nil {
		return e.status, e, nil, nil
	}

	res, info, err := s.route(r, path, body)
	if err != nil {
		return err.status, err, nil, nil
	}
	status := http.StatusOK
	return status, res, info, nil
}

func (s *Server) tooMany(now time.Time) (int, any, *resultInfo, map[string]string) {
	secs := int(s.blocked.Sub(now)/time.Second) + 1
	if rem := s.blocked.Sub(now); rem%time.Second == 0 && rem > 0 {
		secs = int(rem / time.Second)
	}
	e := errorf(http.StatusTooManyRequests, 971, "Please wait and consider throttling your request speed")
	return e.status, e, nil, map[string]string{"Retry-After": strconv.Itoa(secs)}
}

func (s *Server) injected(r *http.Request, path string, body []byte) *apiError {
	sum := sha256.Sum256(append([]byte(r.Method+" "+path+"\n"), body...))
	digest := hex.EncodeToString(sum[:])
	for _, f := range s.faults {
		if f.method != "" && f.method != r.Method || !strings.Contains(path, f.path) {
			continue
		}
		if f.digest != "" {
			if f.digest == digest {
				return errorf(f.status, 10001, "injected failure")
			}
			continue
		}
		f.seen++
		if f.seen == f.n {
			f.digest = digest
			s.failed[digest] = string(body)
			return errorf(f.status, 10001, "injected failure")
		}
	}
	return nil
}

// route dispatches a request to its endpoint.
func (s *Server) route(r *http.Request, path string, body []byte) (any, *resultInfo, *apiError) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	m := r.Method
	q := r.URL.Query()
	switch {
	case path == "/ips" && m == http.MethodGet:
		return s.ips(), nil, nil
	case len(seg) == 1 && seg[0] == "zones" && m == http.MethodGet:
		return s.listZones(q)
	case len(seg) >= 3 && seg[0] == "zones" && seg[2] == "dns_records":
		if seg[1] != s.ZoneID {
			return nil, nil, errorf(http.StatusNotFound, 7003,
				"Could not route to %s, perhaps your object identifier is invalid?", path)
		}
		return s.routeDNS(m, seg[3:], q, body)
	case len(seg) >= 3 && seg[0] == "accounts":
		if seg[1] != s.AccountID {
			return nil, nil, errorf(http.StatusForbidden, 10000, "Authentication error: account %s", seg[1])
		}
		switch {
		case len(seg) >= 4 && seg[2] == "access" && seg[3] == "apps":
			return s.routeApps(m, seg[4:], q, body)
		case len(seg) >= 4 && seg[2] == "access" && seg[3] == "policies":
			return s.routePolicies(m, seg[4:], q, body)
		case seg[2] == "cfd_tunnel":
			return s.routeTunnels(m, seg[3:], q, body)
		}
	}
	return nil, nil, errorf(http.StatusNotFound, 7000, "No route for that URI")
}

// strictDecode decodes a JSON body and refuses unknown fields.
func strictDecode(body []byte, v any) *apiError {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, 9207, "Request body is invalid: %v", err)
	}
	return nil
}

// paginate returns one page of items, honouring page and per_page. A page
// past the end is empty, which is how clients know they are done.
func paginate[T any](items []T, q query, defPer, maxPer int) ([]T, *resultInfo, *apiError) {
	page, per := 1, defPer
	if v := first(q, "page"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 1 {
			return nil, nil, errorf(http.StatusBadRequest, 1004, "page must be a positive integer")
		}
		page = int(n)
	}
	if v := first(q, "per_page"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 1 || int(n) > maxPer {
			return nil, nil, errorf(http.StatusBadRequest, 1004,
				"per_page must be between 1 and %d", maxPer)
		}
		per = int(n)
	}
	start := (page - 1) * per
	out := []T{}
	if start < len(items) {
		out = items[start:min(start+per, len(items))]
	}
	pages := (len(items) + per - 1) / per
	return out, &resultInfo{Page: page, PerPage: per, Count: len(out),
		TotalCount: len(items), TotalPages: pages}, nil
}

func first(q query, key string) string {
	if v := q[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// newID returns a fresh 32-hex-digit identifier.
func (s *Server) newID() string {
	s.seq++
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%08x%s", s.seq, hex.EncodeToString(b))
}

func sortedKeys[V any](m map[string]V, less func(a, b V) bool) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

func (s *Server) ips() any {
	return map[string]any{
		"etag":       "cftest",
		"ipv4_cidrs": []string{"173.245.48.0/20", "103.21.244.0/22", "104.16.0.0/13"},
		"ipv6_cidrs": []string{"2400:cb00::/32", "2606:4700::/32"},
	}
}

type zone struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Status  string            `json:"status"`
	Account map[string]string `json:"account"`
}

func (s *Server) listZones(q query) (any, *resultInfo, *apiError) {
	zones := []zone{}
	z := zone{ID: s.ZoneID, Name: s.Zone, Status: "active",
		Account: map[string]string{"id": s.AccountID, "name": "cftest"}}
	name, acct := first(q, "name"), first(q, "account.id")
	if (name == "" || name == z.Name) && (acct == "" || acct == s.AccountID) {
		zones = append(zones, z)
	}
	out, info, err := paginate(zones, q, 20, 50)
	return out, info, err
}
