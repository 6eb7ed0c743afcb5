package cftest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Tunnel is a Cloudflare Tunnel as the server stores it.
type Tunnel struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	AccountID string     `json:"account_tag"`
	ConfigSrc string     `json:"config_src"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	DeletedAt *time.Time `json:"deleted_at"`
	// Config is the remotely managed configuration; Version counts updates.
	Config  TunnelConfig `json:"-"`
	Version int          `json:"-"`
	// Connections counts the cloudflared connections; a tunnel with any
	// cannot be deleted.
	Connections int `json:"-"`
	secret      string
}

// TunnelConfig is a tunnel's remotely managed configuration.
type TunnelConfig struct {
	Ingress       []IngressRule   `json:"ingress"`
	OriginRequest json.RawMessage `json:"originRequest,omitempty"`
}

// IngressRule routes one hostname to a service inside the cluster.
type IngressRule struct {
	Hostname      string         `json:"hostname,omitempty"`
	Path          string         `json:"path,omitempty"`
	Service       string         `json:"service"`
	OriginRequest *OriginRequest `json:"originRequest,omitempty"`
}

// OriginRequest holds the origin settings deskctl uses: the Access check.
type OriginRequest struct {
	Access *OriginAccess `json:"access,omitempty"`
}

// OriginAccess makes cloudflared require an Access token for the rule.
type OriginAccess struct {
	Required bool     `json:"required"`
	TeamName string   `json:"teamName"`
	AUDTag   []string `json:"audTag"`
}

func (s *Server) routeTunnels(m string, rest []string, q query,
	body []byte) (any, *resultInfo, *apiError) {
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		return s.listTunnels(q)
	case len(rest) == 0 && m == http.MethodPost:
		return s.newTunnel(body)
	}
	t, ok := s.tunnels[rest[0]]
	if !ok || t.DeletedAt != nil && m != http.MethodGet {
		return nil, nil, errorf(http.StatusNotFound, 1003, "tunnel not found")
	}
	switch {
	case len(rest) == 1 && m == http.MethodGet:
		return t, nil, nil
	case len(rest) == 2 && rest[1] == "connections" && m == http.MethodDelete:
		t.Connections = 0
		return map[string]any{}, nil, nil
	case len(rest) == 1 && m == http.MethodDelete:
		if t.Connections > 0 {
			return nil, nil, errorf(http.StatusBadRequest, 1022,
				"Cannot delete tunnel because it has active connections")
		}
		now := time.Now().UTC()
		t.DeletedAt = &now
		return t, nil, nil
	case len(rest) == 2 && rest[1] == "token" && m == http.MethodGet:
		tok, _ := json.Marshal(map[string]string{"a": s.AccountID, "t": t.ID, "s": t.secret})
		return base64.StdEncoding.EncodeToString(tok), nil, nil
	case len(rest) == 2 && rest[1] == "configurations" && m == http.MethodGet:
		return s.configView(t), nil, nil
	case len(rest) == 2 && rest[1] == "configurations" && m == http.MethodPut:
		var in struct {
			Config *TunnelConfig `json:"config"`
		}
		if e := strictDecode(body, &in); e != nil {
			return nil, nil, e
		}
		if in.Config == nil {
			return nil, nil, errorf(http.StatusBadRequest, 1056, "config is required")
		}
		if e := checkIngress(in.Config.Ingress); e != nil {
			return nil, nil, e
		}
		t.Config = *in.Config
		t.Version++
		return s.configView(t), nil, nil
	}
	return nil, nil, errorf(http.StatusNotFound, 7000, "No route for that URI")
}

func (s *Server) configView(t *Tunnel) any {
	return map[string]any{"account_id": s.AccountID, "tunnel_id": t.ID, "version": t.Version,
		"source": "cloudflare", "config": t.Config, "created_at": t.CreatedAt}
}

// checkIngress applies cloudflared's rules: every rule has a service, all
// but the last have a hostname, and the last matches everything.
func checkIngress(rules []IngressRule) *apiError {
	if len(rules) == 0 {
		return errorf(http.StatusBadRequest, 1056, "ingress needs at least the catch-all rule")
	}
	for i, r := range rules {
		if r.Service == "" {
			return errorf(http.StatusBadRequest, 1056, "ingress[%d]: service is required", i)
		}
		if !strings.HasPrefix(r.Service, "http://") && !strings.HasPrefix(r.Service, "https://") &&
			!strings.HasPrefix(r.Service, "http_status:") {
			return errorf(http.StatusBadRequest, 1056, "ingress[%d]: service %q is not supported", i, r.Service)
		}
		last := i == len(rules)-1
		if last && (r.Hostname != "" || r.Path != "") {
			return errorf(http.StatusBadRequest, 1056,
				"The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)")
		}
		if !last && r.Hostname == "" {
			return errorf(http.StatusBadRequest, 1056, "ingress[%d]: only the last rule may match all URLs", i)
		}
		if r.OriginRequest != nil && r.OriginRequest.Access != nil {
			a := r.OriginRequest.Access
			if a.TeamName == "" || len(a.AUDTag) == 0 {
				return errorf(http.StatusBadRequest, 1056, "ingress[%d]: access needs teamName and audTag", i)
			}
		}
	}
	return nil
}

func (s *Server) listTunnels(q query) (any, *resultInfo, *apiError) {
	name := first(q, "name")
	deleted := first(q, "is_deleted")
	list := []Tunnel{}
	for _, t := range sortedKeys(s.tunnels, func(a, b *Tunnel) bool { return a.ID < b.ID }) {
		if name != "" && t.Name != name {
			continue
		}
		if deleted != "" {
			want, _ := strconv.ParseBool(deleted)
			if want != (t.DeletedAt != nil) {
				continue
			}
		}
		list = append(list, *t)
	}
	return paginate(list, q, 20, 1000)
}

func (s *Server) newTunnel(body []byte) (any, *resultInfo, *apiError) {
	var in struct {
		Name         *string `json:"name"`
		ConfigSrc    *string `json:"config_src"`
		TunnelSecret *string `json:"tunnel_secret"`
	}
	if e := strictDecode(body, &in); e != nil {
		return nil, nil, e
	}
	if in.Name == nil || *in.Name == "" {
		return nil, nil, errorf(http.StatusBadRequest, 1001, "name is required")
	}
	for _, t := range s.tunnels {
		if t.Name == *in.Name && t.DeletedAt == nil {
			return nil, nil, errorf(http.StatusConflict, 1013, "You already have a tunnel with this name.")
		}
	}
	t := &Tunnel{ID: uuid(), Name: *in.Name, AccountID: s.AccountID, ConfigSrc: "local",
		Status: "inactive", CreatedAt: time.Now().UTC(),
		secret: base64.StdEncoding.EncodeToString([]byte(uuid()))}
	if in.ConfigSrc != nil {
		t.ConfigSrc = *in.ConfigSrc
	}
	if in.TunnelSecret != nil {
		t.secret = *in.TunnelSecret
	}
	s.tunnels[t.ID] = t
	return t, nil, nil
}

// PlantTunnel adds a tunnel as someone else would and returns its ID.
func (s *Server) PlantTunnel(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"name": name, "config_src": "cloudflare"})
	res, _, e := s.newTunnel(b)
	if e != nil {
		panic("cftest: planting tunnel: " + e.msg)
	}
	return res.(*Tunnel).ID
}

// SetConnections simulates n cloudflared connections to a tunnel.
func (s *Server) SetConnections(id string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tunnels[id]; t != nil {
		t.Connections = n
	}
}

// Tunnels returns every tunnel, deleted ones included.
func (s *Server) Tunnels() []Tunnel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Tunnel{}
	for _, t := range sortedKeys(s.tunnels, func(a, b *Tunnel) bool { return a.Name < b.Name }) {
		out = append(out, *t)
	}
	return out
}

// TunnelToken returns the token the API hands out for a tunnel.
func (s *Server) TunnelToken(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tunnels[id]
	if t == nil {
		return ""
	}
	tok, _ := json.Marshal(map[string]string{"a": s.AccountID, "t": t.ID, "s": t.secret})
	return base64.StdEncoding.EncodeToString(tok)
}
