package cftest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"
)

// MaxPolicies is Cloudflare's limit of reusable Access policies per account.
const MaxPolicies = 500

// App is an Access application as the server stores it.
type App struct {
	ID              string    `json:"id"`
	AUD             string    `json:"aud"`
	Name            string    `json:"name"`
	Domain          string    `json:"domain"`
	Type            string    `json:"type"`
	SessionDuration string    `json:"session_duration"`
	Policies        []AppLink `json:"-"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// AppLink links a reusable policy to an application.
type AppLink struct {
	ID         string `json:"id"`
	Precedence int    `json:"precedence"`
}

// Policy is a reusable Access policy.
type Policy struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Decision  string            `json:"decision"`
	Include   []json.RawMessage `json:"include"`
	Exclude   []json.RawMessage `json:"exclude"`
	Require   []json.RawMessage `json:"require"`
	Reusable  bool              `json:"reusable"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// appInput is the body of an application create or update. Fields beyond
// these are refused.
type appInput struct {
	Name                     *string           `json:"name"`
	Domain                   *string           `json:"domain"`
	Type                     *string           `json:"type"`
	SessionDuration          *string           `json:"session_duration"`
	Policies                 []json.RawMessage `json:"policies"`
	AppLauncherVisible       *bool             `json:"app_launcher_visible"`
	AutoRedirectToIdentity   *bool             `json:"auto_redirect_to_identity"`
	HTTPOnlyCookieAttribute  *bool             `json:"http_only_cookie_attribute"`
	EnableBindingCookie      *bool             `json:"enable_binding_cookie"`
	SameSiteCookieAttribute  *string           `json:"same_site_cookie_attribute"`
	SkipInterstitial         *bool             `json:"skip_interstitial"`
	OptionsPreflightBypass   *bool             `json:"options_preflight_bypass"`
	ServiceAuth401Redirect   *bool             `json:"service_auth_401_redirect"`
	CustomDenyMessage        *string           `json:"custom_deny_message"`
	AllowAuthenticateViaWARP *bool             `json:"allow_authenticate_via_warp"`
}

type policyInput struct {
	Name            *string           `json:"name"`
	Decision        *string           `json:"decision"`
	Include         []json.RawMessage `json:"include"`
	Exclude         []json.RawMessage `json:"exclude"`
	Require         []json.RawMessage `json:"require"`
	SessionDuration *string           `json:"session_duration"`
}

// appView is an application as the API returns it: linked policies are
// expanded with their precedence.
type appView struct {
	App
	Policies []map[string]any `json:"policies"`
}

func (s *Server) view(a *App) appView {
	v := appView{App: *a, Policies: []map[string]any{}}
	for _, l := range a.Policies {
		p := s.policies[l.ID]
		if p == nil {
			continue
		}
		v.Policies = append(v.Policies, map[string]any{
			"id": p.ID, "name": p.Name, "decision": p.Decision, "include": p.Include,
			"exclude": p.Exclude, "require": p.Require, "precedence": l.Precedence,
			"reusable": true,
		})
	}
	return v
}

func (s *Server) routeApps(m string, rest []string, q query,
	body []byte) (any, *resultInfo, *apiError) {
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		var out []appView
		for _, a := range sortedKeys(s.apps, func(a, b *App) bool { return a.ID < b.ID }) {
			out = append(out, s.view(a))
		}
		return paginate(out, q, 25, 1000)
	case len(rest) == 0 && m == http.MethodPost:
		if len(s.apps) >= s.appLimit {
			return nil, nil, errorf(http.StatusBadRequest, 12130,
				"access.api.error.application_limit: the account already has %d applications, "+
					"the most allowed", s.appLimit)
		}
		a, e := s.saveApp(nil, body)
		if e != nil {
			return nil, nil, e
		}
		return s.view(a), nil, nil
	case len(rest) != 1:
		return nil, nil, errorf(http.StatusNotFound, 7000, "No route for that URI")
	}
	a, ok := s.apps[rest[0]]
	if !ok {
		return nil, nil, errorf(http.StatusNotFound, 12001, "access.api.error.not_found: application not found")
	}
	switch m {
	case http.MethodGet:
		return s.view(a), nil, nil
	case http.MethodPut:
		a, e := s.saveApp(a, body)
		if e != nil {
			return nil, nil, e
		}
		return s.view(a), nil, nil
	case http.MethodDelete:
		delete(s.apps, a.ID)
		return map[string]string{"id": a.ID}, nil, nil
	}
	return nil, nil, errorf(http.StatusMethodNotAllowed, 10000, "method not allowed")
}

// saveApp creates (old nil) or replaces an application from a body.
func (s *Server) saveApp(old *App, body []byte) (*App, *apiError) {
	var in appInput
	if e := strictDecode(body, &in); e != nil {
		return nil, e
	}
	if in.Type == nil {
		return nil, errorf(http.StatusBadRequest, 12002, "access.api.error.invalid_request: type is required")
	}
	if *in.Type != "self_hosted" {
		return nil, errorf(http.StatusBadRequest, 12002, "this fake serves self_hosted applications only, got %q", *in.Type)
	}
	if in.Domain == nil || *in.Domain == "" {
		return nil, errorf(http.StatusBadRequest, 12002, "access.api.error.invalid_request: domain is required for self_hosted applications")
	}
	if !strings.HasSuffix(*in.Domain, "."+s.Zone) && *in.Domain != s.Zone {
		return nil, errorf(http.StatusBadRequest, 12002, "domain %q is not in a zone of this account", *in.Domain)
	}
	a := &App{Type: "self_hosted", SessionDuration: "24h", Domain: *in.Domain, Name: *in.Domain}
	if old != nil {
		a.ID, a.AUD, a.CreatedAt = old.ID, old.AUD, old.CreatedAt
	}
	if in.Name != nil {
		a.Name = *in.Name
	}
	if in.SessionDuration != nil {
		if _, err := time.ParseDuration(*in.SessionDuration); err != nil {
			return nil, errorf(http.StatusBadRequest, 12002, "session_duration %q is not a duration such as 24h", *in.SessionDuration)
		}
		a.SessionDuration = *in.SessionDuration
	}
	links, e := s.links(in.Policies)
	if e != nil {
		return nil, e
	}
	a.Policies = links

	now := time.Now().UTC()
	if old == nil {
		a.ID = uuid()
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		a.AUD = hex.EncodeToString(b)
		a.CreatedAt = now
	}
	a.UpdatedAt = now
	s.apps[a.ID] = a
	return a, nil
}

// links checks the policies of an application body: links to existing
// reusable policies, each with its own precedence.
func (s *Server) links(raw []json.RawMessage) ([]AppLink, *apiError) {
	out := []AppLink{}
	seen := map[int]bool{}
	for i, r := range raw {
		var l AppLink
		var id string
		if json.Unmarshal(r, &id) == nil {
			l = AppLink{ID: id, Precedence: i + 1}
		} else {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(r, &fields); err != nil {
				return nil, errorf(http.StatusBadRequest, 12002, "policies[%d] is invalid", i)
			}
			for k := range fields {
				if k != "id" && k != "precedence" {
					return nil, errorf(http.StatusBadRequest, 12002,
						"policies[%d]: this fake links reusable policies only, field %q is not allowed", i, k)
				}
			}
			if err := json.Unmarshal(r, &l); err != nil || l.ID == "" {
				return nil, errorf(http.StatusBadRequest, 12002, "policies[%d]: id is required", i)
			}
			if l.Precedence == 0 {
				l.Precedence = i + 1
			}
		}
		if _, ok := s.policies[l.ID]; !ok {
			return nil, errorf(http.StatusNotFound, 12001, "policies[%d]: policy %s not found", i, l.ID)
		}
		if seen[l.Precedence] {
			return nil, errorf(http.StatusBadRequest, 12002, "policies[%d]: precedence %d is used twice", i, l.Precedence)
		}
		seen[l.Precedence] = true
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Precedence < out[j].Precedence })
	return out, nil
}

func (s *Server) routePolicies(m string, rest []string, q query,
	body []byte) (any, *resultInfo, *apiError) {
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		list := []Policy{}
		for _, p := range sortedKeys(s.policies, func(a, b *Policy) bool { return a.ID < b.ID }) {
			list = append(list, *p)
		}
		return paginate(list, q, 25, 1000)
	case len(rest) == 0 && m == http.MethodPost:
		if len(s.policies) >= MaxPolicies {
			return nil, nil, errorf(http.StatusBadRequest, 12130, "the account already has %d reusable policies", MaxPolicies)
		}
		p, e := s.savePolicy(nil, body)
		if e != nil {
			return nil, nil, e
		}
		return p, nil, nil
	case len(rest) != 1:
		return nil, nil, errorf(http.StatusNotFound, 7000, "No route for that URI")
	}
	p, ok := s.policies[rest[0]]
	if !ok {
		return nil, nil, errorf(http.StatusNotFound, 12001, "access.api.error.not_found: policy not found")
	}
	switch m {
	case http.MethodGet:
		return p, nil, nil
	case http.MethodPut:
		p, e := s.savePolicy(p, body)
		if e != nil {
			return nil, nil, e
		}
		return p, nil, nil
	case http.MethodDelete:
		for _, a := range s.apps {
			for _, l := range a.Policies {
				if l.ID == p.ID {
					return nil, nil, errorf(http.StatusBadRequest, 12002,
						"policy %s is still used by application %s", p.ID, a.ID)
				}
			}
		}
		delete(s.policies, p.ID)
		return map[string]string{"id": p.ID}, nil, nil
	}
	return nil, nil, errorf(http.StatusMethodNotAllowed, 10000, "method not allowed")
}

func (s *Server) savePolicy(old *Policy, body []byte) (*Policy, *apiError) {
	var in policyInput
	if e := strictDecode(body, &in); e != nil {
		return nil, e
	}
	if in.Name == nil || *in.Name == "" {
		return nil, errorf(http.StatusBadRequest, 12002, "name is required")
	}
	if in.Decision == nil {
		return nil, errorf(http.StatusBadRequest, 12002, "decision is required")
	}
	switch *in.Decision {
	case "allow", "deny", "bypass", "non_identity":
	default:
		return nil, errorf(http.StatusBadRequest, 12002, "decision %q is invalid", *in.Decision)
	}
	if len(in.Include) == 0 {
		return nil, errorf(http.StatusBadRequest, 12002, "include needs at least one rule")
	}
	for _, list := range [][]json.RawMessage{in.Include, in.Exclude, in.Require} {
		for _, r := range list {
			if e := checkRule(r); e != nil {
				return nil, e
			}
		}
	}
	p := &Policy{Name: *in.Name, Decision: *in.Decision, Include: in.Include,
		Exclude: nonNil(in.Exclude), Require: nonNil(in.Require), Reusable: true}
	now := time.Now().UTC()
	if old != nil {
		p.ID, p.CreatedAt = old.ID, old.CreatedAt
	} else {
		p.ID, p.CreatedAt = uuid(), now
	}
	p.UpdatedAt = now
	s.policies[p.ID] = p
	return p, nil
}

func nonNil(r []json.RawMessage) []json.RawMessage {
	if r == nil {
		return []json.RawMessage{}
	}
	return r
}

// checkRule accepts the rule kinds deskctl writes, each with its field.
func checkRule(raw json.RawMessage) *apiError {
	var rule map[string]map[string]any
	if err := json.Unmarshal(raw, &rule); err != nil || len(rule) != 1 {
		return errorf(http.StatusBadRequest, 12002, "rule %s must hold exactly one condition", raw)
	}
	want := map[string]string{"email": "email", "email_domain": "domain", "group": "id", "everyone": ""}
	for kind, body := range rule {
		field, ok := want[kind]
		if !ok {
			return errorf(http.StatusBadRequest, 12002, "rule kind %q is not supported here", kind)
		}
		if field == "" {
			continue
		}
		v, _ := body[field].(string)
		if v == "" || len(body) != 1 {
			return errorf(http.StatusBadRequest, 12002, "rule %s needs exactly the field %q", kind, field)
		}
	}
	return nil
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// PlantApp adds an Access application as someone else would, with no
// policy, and returns its ID.
func (s *Server) PlantApp(name, domain string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"name": name, "domain": domain, "type": "self_hosted"})
	a, e := s.saveApp(nil, b)
	if e != nil {
		panic("cftest: planting application: " + e.msg)
	}
	return a.ID
}

// Apps returns every Access application, sorted by name.
func (s *Server) Apps() []App {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []App{}
	for _, a := range sortedKeys(s.apps, func(a, b *App) bool { return a.Name < b.Name }) {
		c := *a
		c.Policies = append([]AppLink(nil), a.Policies...)
		out = append(out, c)
	}
	return out
}

// Policies returns every reusable policy, sorted by name.
func (s *Server) Policies() []Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Policy{}
	for _, p := range sortedKeys(s.policies, func(a, b *Policy) bool { return a.Name < b.Name }) {
		out = append(out, *p)
	}
	return out
}
