package cftest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	cf "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/option"
)

// call sends one raw request and decodes Cloudflare's envelope.
func call(t *testing.T, s *Server, method, path, body string) (int, envelopeOut) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(s.URL, "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var env envelopeOut
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s %s: not an envelope: %s", method, path, b)
	}
	env.header = res.Header
	return res.StatusCode, env
}

type envelopeOut struct {
	Success    bool            `json:"success"`
	Errors     []errorDetail   `json:"errors"`
	Result     json.RawMessage `json:"result"`
	ResultInfo *resultInfo     `json:"result_info"`
	header     http.Header
}

func (s *Server) records0() string { return "/zones/" + s.ZoneID + "/dns_records" }

func TestEnvelopeAndStrictBodies(t *testing.T) {
	s := New(t)
	cases := []struct {
		name, body string
		code       int
	}{
		{"unknown field",
			`{"name":"a.example.com","type":"CNAME","content":"x.net","ttl":1,"color":"red"}`, 9207},
		{"missing ttl", `{"name":"a.example.com","type":"CNAME","content":"x.net"}`, 9005},
		{"outside zone", `{"name":"a.example.org","type":"CNAME","content":"x.net","ttl":1}`, 9007},
		{"long comment", `{"name":"a.example.com","type":"CNAME","content":"x.net","ttl":1,"comment":"` +
			strings.Repeat("x", 101) + `"}`, 9108},
	}
	for _, c := range cases {
		status, env := call(t, s, http.MethodPost, s.records0(), c.body)
		if status != http.StatusBadRequest || env.Success || len(env.Errors) != 1 ||
			env.Errors[0].Code != c.code {
			t.Errorf("%s: %d %+v, want 400 with code %d", c.name, status, env, c.code)
		}
	}
	if n := len(s.Records()); n != 0 {
		t.Errorf("%d records stored from refused bodies", n)
	}

	// Applications need a type and a domain; policies need rules.
	apps := "/accounts/" + s.AccountID + "/access/apps"
	for _, body := range []string{`{"domain":"a.example.com"}`, `{"type":"self_hosted"}`,
		`{"type":"self_hosted","domain":"a.example.com","policies":[{"id":"nope","precedence":1}]}`} {
		if status, _ := call(t, s, http.MethodPost, apps, body); status < 400 {
			t.Errorf("application body %s accepted", body)
		}
	}
	policies := "/accounts/" + s.AccountID + "/access/policies"
	noRules := `{"name":"p","decision":"allow","include":[]}`
	if status, _ := call(t, s, http.MethodPost, policies, noRules); status != 400 {
		t.Errorf("policy without rules answered %d", status)
	}
}

func TestTokenChecked(t *testing.T) {
	s := New(t)
	req, _ := http.NewRequest(http.MethodGet, s.URL+"zones", nil)
	req.Header.Set("Authorization", "Bearer wrong")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("wrong token answered %d", res.StatusCode)
	}
}

func TestPaginationEndsWithEmptyPage(t *testing.T) {
	s := New(t)
	for i := range 7 {
		s.PlantRecord(fmt.Sprintf("h%d.%s", i, s.Zone), "CNAME", "x.example.net", "")
	}
	client := cf.NewClient(option.WithBaseURL(s.URL), option.WithAPIToken(s.Token),
		option.WithMaxRetries(0))
	iter := client.DNS.Records.ListAutoPaging(context.Background(),
		dns.RecordListParams{ZoneID: cf.F(s.ZoneID), PerPage: cf.F(5.0)})
	n := 0
	for iter.Next() {
		n++
	}
	if iter.Err() != nil || n != 7 {
		t.Fatalf("auto-paging saw %d records, err %v", n, iter.Err())
	}
	// Pages 1, 2 and the empty page 3.
	if got := s.Count(http.MethodGet, "/dns_records"); got != 3 {
		t.Errorf("%d list requests, want 3", got)
	}
}

func TestBatchLimitAndOrder(t *testing.T) {
	s := New(t, WithBatchLimit(3))
	id := s.PlantRecord("a."+s.Zone, "CNAME", "old.example.net", "")

	// Deletes run before posts, so a name can be freed and reused at once.
	body := `{"deletes":[{"id":"` + id + `"}],"posts":[{"name":"a.` + s.Zone +
		`","type":"CNAME","content":"new.example.net","ttl":1,"proxied":true}]}`
	if status, env := call(t, s, http.MethodPost, s.records0()+"/batch", body); status != 200 {
		t.Fatalf("batch answered %d %+v", status, env)
	}
	if r := s.Records(); len(r) != 1 || r[0].Content != "new.example.net" {
		t.Errorf("records after batch: %+v", r)
	}

	post := `{"name":"b%d.` + s.Zone + `","type":"CNAME","content":"x.example.net","ttl":1}`
	var posts []string
	for i := range 4 {
		posts = append(posts, fmt.Sprintf(post, i))
	}
	over := `{"posts":[` + strings.Join(posts, ",") + `]}`
	status, env := call(t, s, http.MethodPost, s.records0()+"/batch", over)
	if status != 400 || env.Errors[0].Code != 81058 {
		t.Errorf("over-limit batch answered %d %+v", status, env)
	}

	// A failing record fails the whole batch.
	bad := `{"posts":[` + fmt.Sprintf(post, 9) + `,{"name":"a.` + s.Zone +
		`","type":"CNAME","content":"dup.example.net","ttl":1}]}`
	if status, _ := call(t, s, http.MethodPost, s.records0()+"/batch", bad); status != 400 {
		t.Errorf("conflicting batch answered %d", status)
	}
	if n := len(s.Records()); n != 1 {
		t.Errorf("a failed batch left %d records, want 1", n)
	}
}

func TestApplicationLimitAndAUD(t *testing.T) {
	s := New(t, WithApplicationLimit(2))
	apps := "/accounts/" + s.AccountID + "/access/apps"
	for i := range 3 {
		body := fmt.Sprintf(`{"type":"self_hosted","domain":"a%d.%s","name":"a%d"}`, i, s.Zone, i)
		status, env := call(t, s, http.MethodPost, apps, body)
		switch {
		case i < 2 && status != 200:
			t.Fatalf("create %d answered %d %+v", i, status, env)
		case i < 2:
			var a App
			_ = json.Unmarshal(env.Result, &a)
			if len(a.AUD) != 64 {
				t.Errorf("aud %q is not 64 hex digits", a.AUD)
			}
		case status != 400:
			t.Errorf("create past the limit answered %d", status)
		}
	}
}

func TestRateLimitAndFaults(t *testing.T) {
	s := New(t, WithRateLimit(2, 2*time.Second))
	for range 2 {
		if status, _ := call(t, s, http.MethodGet, "/zones", ""); status != 200 {
			t.Fatalf("request within the limit answered %d", status)
		}
	}
	status, env := call(t, s, http.MethodGet, "/zones", "")
	if status != http.StatusTooManyRequests || env.header.Get("Retry-After") != "2" {
		t.Errorf("past the limit: %d Retry-After %q", status, env.header.Get("Retry-After"))
	}

	f := New(t)
	f.FailNth(http.MethodGet, "/zones", 2, 503)
	codes := []int{}
	for range 3 {
		status, _ := call(t, f, http.MethodGet, "/zones", "")
		codes = append(codes, status)
	}
	if fmt.Sprint(codes) != "[200 503 503]" {
		t.Errorf("statuses %v: the 2nd request and its retry (same body) must fail", codes)
	}
	f.ClearFaults()
	if status, _ := call(t, f, http.MethodGet, "/zones", ""); status != 200 {
		t.Errorf("after ClearFaults: %d", status)
	}
	if c := f.Counts()["GET /zones"]; c != 4 {
		t.Errorf("request log counts %d zone lookups, want 4", c)
	}
}

func TestTunnelConfigurationRules(t *testing.T) {
	s := New(t)
	id := s.PlantTunnel("t")
	path := "/accounts/" + s.AccountID + "/cfd_tunnel/" + id + "/configurations"
	noCatchAll := `{"config":{"ingress":[{"hostname":"a.example.com","service":"http://a:8080"}]}}`
	if status, _ := call(t, s, http.MethodPut, path, noCatchAll); status != 400 {
		t.Errorf("ingress without a catch-all answered %d", status)
	}
	ok := `{"config":{"ingress":[{"hostname":"a.example.com","service":"http://a:8080",` +
		`"originRequest":{"access":{"required":true,"teamName":"t","audTag":["x"]}}},` +
		`{"service":"http_status:404"}]}}`
	if status, env := call(t, s, http.MethodPut, path, ok); status != 200 {
		t.Errorf("valid ingress answered %d %+v", status, env)
	}
	if got := s.Tunnels()[0]; got.Version != 1 || len(got.Config.Ingress) != 2 {
		t.Errorf("tunnel after update: %+v", got)
	}
}
