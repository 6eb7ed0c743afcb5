package desktop

import (
	"strings"
	"testing"
)

func testSet() Set {
	return Set{Name: "desk", Namespace: "desktops", Domain: "example.com",
		HostPattern: "pod{{.Ordinal}}", GroupSize: 50}
}

func TestDesktopNamesHostsAndGroups(t *testing.T) {
	s := testSet()
	cases := []struct {
		ordinal         int
		name, pod, host string
		group           string
	}{
		{1, "pod1", "desk-1", "pod1.example.com", "deskctl-desktops-desk-1"},
		{50, "pod50", "desk-50", "pod50.example.com", "deskctl-desktops-desk-1"},
		{51, "pod51", "desk-51", "pod51.example.com", "deskctl-desktops-desk-2"},
		{120, "pod120", "desk-120", "pod120.example.com", "deskctl-desktops-desk-3"},
	}
	for _, c := range cases {
		d, err := s.Desktop(c.ordinal)
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != c.name || d.Pod != c.pod || d.Host != c.host || d.Group != c.group {
			t.Errorf("desktop %d = %+v", c.ordinal, d)
		}
	}
	if got := s.Groups(120); len(got) != 3 {
		t.Errorf("120 desktops at 50 a group: groups %v", got)
	}
	if got := s.Groups(100); len(got) != 2 {
		t.Errorf("100 desktops at 50 a group: groups %v", got)
	}
	if got := s.Groups(0); len(got) != 0 {
		t.Errorf("no desktops: groups %v", got)
	}
}

func TestResolve(t *testing.T) {
	s := testSet()
	for ref, want := range map[string]int{"pod3": 3, "3": 3, "desk-3": 3, "pod12": 12,
		"pod3.example.com": 3} {
		got, err := s.Resolve(ref)
		if err != nil || got != want {
			t.Errorf("Resolve(%q) = %d, %v; want %d", ref, got, err, want)
		}
	}
	for _, ref := range []string{"0", "-2", "pod", "desk-x", "box3", "pod0", ""} {
		if n, err := s.Resolve(ref); err == nil {
			t.Errorf("Resolve(%q) = %d, want an error", ref, n)
		}
	}
	custom := testSet()
	custom.HostPattern = "ws-{{.Ordinal}}-lab"
	if n, err := custom.Resolve("ws-7-lab"); err != nil || n != 7 {
		t.Errorf("custom pattern: %d, %v", n, err)
	}
}

func TestValidate(t *testing.T) {
	bad := map[string]func(*Set){
		"same name":          func(s *Set) { s.HostPattern = "pod" },
		"not a DNS label":    func(s *Set) { s.HostPattern = "Pod_{{.Ordinal}}" },
		"not a valid templ":  func(s *Set) { s.HostPattern = "{{.Ordinal" },
		"domain":             func(s *Set) { s.Domain = "nodots" },
		"between 1 and 100":  func(s *Set) { s.GroupSize = 101 },
		"is not a valid set": func(s *Set) { s.Name = "Desk" },
		"longer than 63":     func(s *Set) { s.GroupPrefix = strings.Repeat("g", 70) },
	}
	for want, mutate := range bad {
		s := testSet()
		mutate(&s)
		err := s.Validate(500)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want[:len(want)-1])) {
			t.Errorf("%s: Validate = %v", want, err)
		}
	}
	if err := testSet().Validate(500); err != nil {
		t.Errorf("a good set: %v", err)
	}
}

func TestAccessConfigFor(t *testing.T) {
	c := AccessConfig{AUD: []string{"set"}, Desktops: map[string]DesktopAccess{
		"pod1": {Pod: "desk-1", AUD: []string{"one"}, Users: []string{"a@example.com"}},
	}}
	if aud, users := c.For("desk-1"); strings.Join(aud, ",") != "set,one" || len(users) != 1 {
		t.Errorf("For(desk-1) = %v %v", aud, users)
	}
	aud, users := c.For("pod1")
	if strings.Join(aud, ",") != "set,one" || strings.Join(users, ",") != "a@example.com" {
		t.Errorf("For(pod1) = %v %v", aud, users)
	}
	aud, users = c.For("pod2")
	if strings.Join(aud, ",") != "set" || len(users) != 0 {
		t.Errorf("For(pod2) = %v %v", aud, users)
	}
}
