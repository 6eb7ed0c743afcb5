// Package desktop is deskctl's domain: a set of desktops, their names,
// hosts, ordinals, load balancer groups and labels. It does no I/O.
package desktop

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels and annotations that mark what deskctl owns.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByValue = "deskctl"
	LabelSet       = "deskctl.io/set"
	LabelDesktop   = "deskctl.io/desktop"
	LabelOrdinal   = "deskctl.io/ordinal"
	LabelComponent = "app.kubernetes.io/component"

	// LabelPodName is the label the StatefulSet controller puts on every pod.
	LabelPodName = "statefulset.kubernetes.io/pod-name"
)

// MaxGroupSize is the most desktops one ALB can carry: an ALB has at most 100
// target groups and every desktop's Service becomes one.
const MaxGroupSize = 100

// Set describes a set of desktops: one StatefulSet and everything around it.
type Set struct {
	// Name of the StatefulSet and prefix of every object.
	Name string
	// Namespace the set lives in.
	Namespace string
	// Domain under which every desktop gets its host.
	Domain string
	// HostPattern is a text/template yielding a desktop's name from
	// {{.Ordinal}} (and {{.Set}}), e.g. pod{{.Ordinal}}.
	HostPattern string
	// GroupSize is the most desktops per ALB group.
	GroupSize int
	// GroupPrefix starts every ALB group name; empty means derived from the
	// namespace and set name.
	GroupPrefix string
}

// Desktop is one desktop of a set.
type Desktop struct {
	// Ordinal numbers desktops from 1.
	Ordinal int `json:"ordinal"`
	// Name is the desktop's own name, from the host pattern: pod3.
	Name string `json:"name"`
	// Pod is the StatefulSet pod: desk-3.
	Pod string `json:"pod"`
	// Host is the desktop's fully qualified hostname: pod3.example.com.
	Host string `json:"host"`
	// Group is the ALB group the desktop's Ingress joins.
	Group string `json:"group"`
}

// URL is where a browser reaches the desktop.
func (d Desktop) URL() string { return "https://" + d.Host + "/" }

// Validate checks the set's own fields and the host pattern against the
// first and last desktop of a set of n. Patterns that can yield duplicates
// (no ordinal in them) are refused.
func (s Set) Validate(n int) error {
	if errs := validation.IsDNS1035Label(s.Name); len(errs) > 0 {
		return fmt.Errorf("name %q is not a valid set name: %s", s.Name, strings.Join(errs, "; "))
	}
	// Pods are <name>-<ordinal>, and the Service of each desktop too.
	if len(s.Name)+1+len(strconv.Itoa(maxInt(n, 1))) > 52 {
		return fmt.Errorf("name %q is too long: keep it under 45 characters", s.Name)
	}
	if errs := validation.IsDNS1123Label(s.Namespace); len(errs) > 0 {
		return fmt.Errorf("namespace %q is invalid: %s", s.Namespace, strings.Join(errs, "; "))
	}
	if err := ValidateDomain(s.Domain); err != nil {
		return err
	}
	if s.GroupSize < 1 || s.GroupSize > MaxGroupSize {
		return fmt.Errorf("expose.alb.maxDesktopsPerGroup is %d: it must be between 1 and %d "+
			"(an ALB carries at most 100 target groups)", s.GroupSize, MaxGroupSize)
	}
	if _, err := s.hostTemplate(); err != nil {
		return err
	}

	// Two different ordinals must give two different names.
	a, err := s.desktopName(1)
	if err != nil {
		return err
	}
	b, err := s.desktopName(2)
	if err != nil {
		return err
	}
	if a == b {
		return fmt.Errorf("hostPattern %q gives every desktop the same name %q: "+
			"include {{.Ordinal}}", s.HostPattern, a)
	}
	if n > 1 {
		if _, err := s.Desktop(n); err != nil {
			return err
		}
	}
	if _, err := s.Desktop(1); err != nil {
		return err
	}
	if err := validateGroupName(s.groupName(0)); err != nil {
		return err
	}
	return nil
}

// ValidateDomain checks a DNS domain such as example.com.
func ValidateDomain(domain string) error {
	if domain == "" {
		return fmt.Errorf("domain is required: set it in the config file (domain: example.com), " +
			"with DESKCTL_DOMAIN or with --domain")
	}
	if errs := validation.IsDNS1123Subdomain(domain); len(errs) > 0 || !strings.Contains(domain, ".") {
		return fmt.Errorf("domain %q is not a valid DNS domain such as example.com", domain)
	}
	return nil
}

// Desktop returns the desktop with the given ordinal.
func (s Set) Desktop(ordinal int) (Desktop, error) {
	if ordinal < 1 {
		return Desktop{}, fmt.Errorf("desktop ordinals start at 1, got %d", ordinal)
	}
	name, err := s.desktopName(ordinal)
	if err != nil {
		return Desktop{}, err
	}
	host := name + "." + s.Domain
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return Desktop{}, fmt.Errorf("hostPattern %q gives host %q, which is not a valid DNS name: %s",
			s.HostPattern, host, strings.Join(errs, "; "))
	}
	return Desktop{
		Ordinal: ordinal,
		Name:    name,
		Pod:     s.PodName(ordinal),
		Host:    host,
		Group:   s.groupName((ordinal - 1) / maxInt(s.GroupSize, 1)),
	}, nil
}

// Desktops returns desktops 1 to n.
func (s Set) Desktops(n int) ([]Desktop, error) {
	out := make([]Desktop, 0, n)
	for i := 1; i <= n; i++ {
		d, err := s.Desktop(i)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// PodName is the StatefulSet pod of an ordinal: desk-3.
func (s Set) PodName(ordinal int) string { return s.Name + "-" + strconv.Itoa(ordinal) }

// Groups returns the ALB group names that n desktops use, in order.
func (s Set) Groups(n int) []string {
	var out []string
	for i := 0; i*s.GroupSize < n; i++ {
		out = append(out, s.groupName(i))
	}
	return out
}

// Resolve finds the ordinal a user means by ref: the desktop name (pod3),
// the bare ordinal (3) or the pod name (desk-3). It does not check that the
// desktop exists.
func (s Set) Resolve(ref string) (int, error) {
	if n, err := strconv.Atoi(ref); err == nil {
		if n < 1 {
			return 0, fmt.Errorf("desktop %q: ordinals start at 1", ref)
		}
		return n, nil
	}
	if rest, ok := strings.CutPrefix(ref, s.Name+"-"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 1 {
			return n, nil
		}
	}
	// Match the host pattern: try each run of digits in ref as the ordinal.
	for _, run := range digitRuns.FindAllString(ref, -1) {
		n, err := strconv.Atoi(run)
		if err != nil || n < 1 {
			continue
		}
		if name, err := s.desktopName(n); err == nil && (name == ref || name+"."+s.Domain == ref) {
			return n, nil
		}
	}
	return 0, fmt.Errorf("unknown desktop %q: name it as %s, %d or %s",
		ref, s.mustName(3), 3, s.PodName(3))
}

var digitRuns = regexp.MustCompile(`[0-9]+`)

func (s Set) mustName(n int) string {
	name, err := s.desktopName(n)
	if err != nil {
		return "pod" + strconv.Itoa(n)
	}
	return name
}

func (s Set) hostTemplate() (*template.Template, error) {
	if s.HostPattern == "" {
		return nil, fmt.Errorf("hostPattern is empty: use something like pod{{.Ordinal}}")
	}
	t, err := template.New("hostPattern").Option("missingkey=error").Parse(s.HostPattern)
	if err != nil {
		return nil, fmt.Errorf("hostPattern %q is not a valid template: %w", s.HostPattern, err)
	}
	return t, nil
}

func (s Set) desktopName(ordinal int) (string, error) {
	t, err := s.hostTemplate()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	data := struct {
		Ordinal int
		Set     string
	}{ordinal, s.Name}
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("hostPattern %q: %w", s.HostPattern, err)
	}
	name := b.String()
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return "", fmt.Errorf("hostPattern %q gives %q for desktop %d, which is not a DNS label: %s",
			s.HostPattern, name, ordinal, strings.Join(errs, "; "))
	}
	return name, nil
}

func (s Set) groupName(i int) string {
	prefix := s.GroupPrefix
	if prefix == "" {
		prefix = "deskctl-" + s.Namespace + "-" + s.Name
	}
	return strings.ToLower(prefix) + "-" + strconv.Itoa(i+1)
}

// validateGroupName checks an ALB group name: lowercase, at most 63
// characters, letters, digits, '-' and '.'.
func validateGroupName(name string) error {
	if len(name) > 63 {
		return fmt.Errorf("ALB group name %q is longer than 63 characters: "+
			"set a shorter expose.alb.groupPrefix", name)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("ALB group name %q is invalid (%s): fix expose.alb.groupPrefix",
			name, strings.Join(errs, "; "))
	}
	return nil
}

// SelectorLabels are the labels that select every object of a set.
func SelectorLabels(set string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelSet: set}
}

// Selector is SelectorLabels as a label selector string.
func Selector(set string) string {
	return LabelManagedBy + "=" + ManagedByValue + "," + LabelSet + "=" + set
}

// Labels returns the labels of a per-desktop object.
func (s Set) Labels(d Desktop) map[string]string {
	l := SelectorLabels(s.Name)
	l[LabelDesktop] = d.Name
	l[LabelOrdinal] = strconv.Itoa(d.Ordinal)
	return l
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
