package cftest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// DNSRecord is a DNS record as the server stores and returns it.
type DNSRecord struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Content    string    `json:"content"`
	Proxied    bool      `json:"proxied"`
	Proxiable  bool      `json:"proxiable"`
	TTL        float64   `json:"ttl"`
	Comment    string    `json:"comment"`
	Tags       []string  `json:"tags"`
	CreatedOn  time.Time `json:"created_on"`
	ModifiedOn time.Time `json:"modified_on"`
}

// recordInput is a record in a create, put or patch body. Pointers tell a
// missing field from a zero one.
type recordInput struct {
	ID       string          `json:"id,omitempty"`
	Name     *string         `json:"name"`
	Type     *string         `json:"type"`
	Content  *string         `json:"content"`
	TTL      *float64        `json:"ttl"`
	Proxied  *bool           `json:"proxied"`
	Comment  *string         `json:"comment"`
	Tags     []string        `json:"tags"`
	Settings json.RawMessage `json:"settings"`
}

type batchInput struct {
	Deletes []struct {
		ID string `json:"id"`
	} `json:"deletes"`
	Patches []recordInput `json:"patches"`
	Puts    []recordInput `json:"puts"`
	Posts   []recordInput `json:"posts"`
}

// maxComment is the longest record comment on Free plans.
const maxComment = 100

func (s *Server) routeDNS(m string, rest []string, q query,
	body []byte) (any, *resultInfo, *apiError) {
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		return s.listRecords(q)
	case len(rest) == 0 && m == http.MethodPost:
		var in recordInput
		if e := strictDecode(body, &in); e != nil {
			return nil, nil, e
		}
		recs := s.cloneRecords()
		rec, e := s.applyRecord(recs, nil, in, true)
		if e != nil {
			return nil, nil, e
		}
		s.records = recs
		return rec, nil, nil
	case len(rest) == 1 && rest[0] == "batch" && m == http.MethodPost:
		return s.batch(body)
	case len(rest) == 1 && m == http.MethodGet:
		if rec, ok := s.records[rest[0]]; ok {
			return rec, nil, nil
		}
	case len(rest) == 1 && m == http.MethodDelete:
		if _, ok := s.records[rest[0]]; ok {
			delete(s.records, rest[0])
			return map[string]string{"id": rest[0]}, nil, nil
		}
	default:
		return nil, nil, errorf(http.StatusMethodNotAllowed, 10000, "method not allowed")
	}
	return nil, nil, errorf(http.StatusNotFound, 81044, "Record does not exist.")
}

func (s *Server) listRecords(q query) (any, *resultInfo, *apiError) {
	match := func(v, key string) bool {
		if x, ok := q[key]; ok && v != x[0] {
			return false
		}
		if x, ok := q[key+".exact"]; ok && v != x[0] {
			return false
		}
		if x, ok := q[key+".startswith"]; ok && !strings.HasPrefix(v, x[0]) {
			return false
		}
		if x, ok := q[key+".endswith"]; ok && !strings.HasSuffix(v, x[0]) {
			return false
		}
		if x, ok := q[key+".contains"]; ok && !strings.Contains(v, x[0]) {
			return false
		}
		return true
	}
	all := sortedKeys(s.records, func(a, b *DNSRecord) bool { return a.ID < b.ID })
	var out []DNSRecord
	for _, r := range all {
		if match(r.Name, "name") && match(r.Type, "type") && match(r.Comment, "comment") &&
			match(r.Content, "content") {
			out = append(out, *r)
		}
	}
	page, info, e := paginate(out, q, 100, 5000)
	return page, info, e
}

func (s *Server) cloneRecords() map[string]*DNSRecord {
	out := make(map[string]*DNSRecord, len(s.records))
	for k, v := range s.records {
		c := *v
		out[k] = &c
	}
	return out
}

// applyRecord creates (old nil) or changes a record in recs. full says that
// every required field must be present (create and put).
func (s *Server) applyRecord(recs map[string]*DNSRecord, old *DNSRecord, in recordInput,
	full bool) (*DNSRecord, *apiError) {
	if full {
		for field, ok := range map[string]bool{"name": in.Name != nil, "type": in.Type != nil,
			"content": in.Content != nil, "ttl": in.TTL != nil} {
			if !ok {
				return nil, errorf(http.StatusBadRequest, 9005, "DNS record %s is required", field)
			}
		}
	}
	rec := &DNSRecord{Proxiable: true, TTL: 1, Tags: []string{}}
	if old != nil {
		c := *old
		rec = &c
	}
	if in.Name != nil {
		rec.Name = strings.TrimSuffix(strings.ToLower(*in.Name), ".")
	}
	if in.Type != nil {
		rec.Type = *in.Type
	}
	if in.Content != nil {
		rec.Content = *in.Content
	}
	if in.TTL != nil {
		rec.TTL = *in.TTL
	}
	if in.Proxied != nil {
		rec.Proxied = *in.Proxied
	}
	if in.Comment != nil {
		rec.Comment = *in.Comment
	}
	if in.Tags != nil {
		rec.Tags = in.Tags
	}
	if e := s.checkRecord(recs, rec); e != nil {
		return nil, e
	}
	now := time.Now().UTC()
	if old == nil {
		rec.ID = s.newID()
		rec.CreatedOn = now
	}
	rec.ModifiedOn = now
	recs[rec.ID] = rec
	return rec, nil
}

func (s *Server) checkRecord(recs map[string]*DNSRecord, r *DNSRecord) *apiError {
	if r.Name != s.Zone && !strings.HasSuffix(r.Name, "."+s.Zone) {
		return errorf(http.StatusBadRequest, 9007, "DNS record name %q is outside the zone %s", r.Name, s.Zone)
	}
	switch r.Type {
	case "CNAME", "A", "AAAA", "TXT":
	default:
		return errorf(http.StatusBadRequest, 9004, "DNS record type %q is invalid or unsupported here", r.Type)
	}
	if r.Content == "" {
		return errorf(http.StatusBadRequest, 9005, "Content for %s record is invalid.", r.Type)
	}
	if r.Type == "CNAME" && strings.EqualFold(r.Content, r.Name) {
		return errorf(http.StatusBadRequest, 9039, "CNAME content cannot reference itself.")
	}
	if r.TTL != 1 && (r.TTL < 60 || r.TTL > 86400) {
		return errorf(http.StatusBadRequest, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.")
	}
	if r.Proxied && r.Type == "TXT" {
		return errorf(http.StatusBadRequest, 9004, "TXT records cannot be proxied.")
	}
	if len(r.Comment) > maxComment {
		return errorf(http.StatusBadRequest, 9108, "DNS record comment is longer than %d characters.", maxComment)
	}

	// A CNAME shares its name with no other record.
	for id, o := range recs {
		if id == r.ID || o.Name != r.Name {
			continue
		}
		if r.Type == "CNAME" || o.Type == "CNAME" {
			return errorf(http.StatusBadRequest, 81053,
				"An A, AAAA, or CNAME record with that host already exists.")
		}
	}
	return nil
}

// batch runs deletes, then patches, then puts, then posts, all or nothing.
func (s *Server) batch(body []byte) (any, *resultInfo, *apiError) {
	var in batchInput
	if e := strictDecode(body, &in); e != nil {
		return nil, nil, e
	}
	n := len(in.Deletes) + len(in.Patches) + len(in.Puts) + len(in.Posts)
	if n == 0 {
		return nil, nil, errorf(http.StatusBadRequest, 9000, "The batch request is empty.")
	}
	if n > s.batchMax {
		return nil, nil, errorf(http.StatusBadRequest, 81058,
			"The batch holds %d records; at most %d are allowed in one request.", n, s.batchMax)
	}

	recs := s.cloneRecords()
	res := map[string][]DNSRecord{"deletes": {}, "patches": {}, "puts": {}, "posts": {}}
	for _, d := range in.Deletes {
		old, ok := recs[d.ID]
		if !ok {
			return nil, nil, errorf(http.StatusNotFound, 81044, "Record %s does not exist.", d.ID)
		}
		delete(recs, d.ID)
		res["deletes"] = append(res["deletes"], *old)
	}
	for _, step := range []struct {
		kind string
		list []recordInput
	}{{"patches", in.Patches}, {"puts", in.Puts}} {
		kind := step.kind
		for _, p := range step.list {
			old, ok := recs[p.ID]
			if !ok {
				return nil, nil, errorf(http.StatusNotFound, 81044, "Record %q does not exist.", p.ID)
			}
			rec, e := s.applyRecord(recs, old, p, kind == "puts")
			if e != nil {
				return nil, nil, e
			}
			res[kind] = append(res[kind], *rec)
		}
	}
	for _, p := range in.Posts {
		if p.ID != "" {
			return nil, nil, errorf(http.StatusBadRequest, 9207, "posts may not carry an id")
		}
		rec, e := s.applyRecord(recs, nil, p, true)
		if e != nil {
			return nil, nil, e
		}
		res["posts"] = append(res["posts"], *rec)
	}
	s.records = recs
	return res, nil, nil
}

// PlantRecord adds a record as someone else would, outside deskctl.
func (s *Server) PlantRecord(name, typ, content, comment string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl, proxied := 1.0, typ != "TXT"
	rec, e := s.applyRecord(s.records, nil, recordInput{Name: &name, Type: &typ,
		Content: &content, TTL: &ttl, Proxied: &proxied, Comment: &comment}, true)
	if e != nil {
		panic("cftest: planting record: " + e.msg)
	}
	return rec.ID
}

// Records returns every DNS record, sorted by name.
func (s *Server) Records() []DNSRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []DNSRecord{}
	for _, r := range sortedKeys(s.records, func(a, b *DNSRecord) bool { return a.Name < b.Name }) {
		out = append(out, *r)
	}
	return out
}
