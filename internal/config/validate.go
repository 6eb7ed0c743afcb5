package config

import (
	"fmt"
	"net/mail"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/deskctl/deskctl/internal/desktop"
)

// MaxIdleTimeout is the longest idle timeout an ALB accepts, in seconds.
const MaxIdleTimeout = 4000

// Validate checks every value of the configuration. The error names the
// key at fault and says how to fix it.
func (c *Config) Validate() error {
	if c.MaxReplicas < 1 {
		return errorf("maxReplicas", "must be at least 1, got %d", c.MaxReplicas)
	}
	if c.Replicas < 0 || c.Replicas > c.MaxReplicas {
		return errorf("replicas", "must be between 0 and maxReplicas (%d), got %d",
			c.MaxReplicas, c.Replicas)
	}
	if strings.TrimSpace(c.Image) == "" {
		return errorf("image", "is empty: name the desktop image to run")
	}
	if err := c.validateResources(); err != nil {
		return err
	}
	if _, err := resource.ParseQuantity(c.Home.Size); err != nil {
		return errorf("home.size", "%q is not a Kubernetes quantity such as 10Gi", c.Home.Size)
	}
	if c.Home.StorageClass != "" {
		if errs := validation.IsDNS1123Subdomain(c.Home.StorageClass); len(errs) > 0 {
			return errorf("home.storageClass", "%q is not a valid name: %s",
				c.Home.StorageClass, strings.Join(errs, "; "))
		}
	}
	if err := c.validateExpose(); err != nil {
		return err
	}
	if err := c.validateCloudflare(); err != nil {
		return err
	}
	if err := c.Set().Validate(c.MaxReplicas); err != nil {
		return &Error{Err: err}
	}
	return nil
}

func (c *Config) validateResources() error {
	for kind, list := range map[string]map[string]string{
		"resources.requests": c.Resources.Requests,
		"resources.limits":   c.Resources.Limits,
	} {
		for name, q := range list {
			if _, err := resource.ParseQuantity(q); err != nil {
				return errorf(kind+"."+name, "%q is not a Kubernetes quantity such as 500m or 2Gi", q)
			}
		}
	}
	return nil
}

func (c *Config) validateExpose() error {
	switch c.Expose.Mode {
	case ExposeALB, ExposeTunnel, ExposeNone:
	default:
		return errorf("expose.mode", "%q is not one of alb, tunnel, none", c.Expose.Mode)
	}
	if c.Expose.Mode == ExposeTunnel && !c.Cloudflare.Enabled {
		return errorf("expose.mode", "tunnel needs cloudflare.enabled: true")
	}
	if c.Expose.Mode != ExposeALB {
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(c.Expose.IngressClass); len(errs) > 0 {
		return errorf("expose.ingressClass", "%q is not a valid name", c.Expose.IngressClass)
	}
	n := c.Expose.ALB.MaxDesktopsPerGroup
	if n < 1 || n > desktop.MaxGroupSize {
		return errorf("expose.alb.maxDesktopsPerGroup",
			"is %d: it must be between 1 and %d, since an ALB has at most 100 target groups",
			n, desktop.MaxGroupSize)
	}
	t := c.Expose.ALB.IdleTimeoutSeconds
	if t < 1 || t > MaxIdleTimeout {
		return errorf("expose.alb.idleTimeoutSeconds", "is %d: it must be between 1 and %d", t, MaxIdleTimeout)
	}
	if arn := c.Expose.ALB.CertificateARN; arn != "" && !strings.HasPrefix(arn, "arn:") {
		return errorf("expose.alb.certificateARN", "%q is not an ARN (arn:aws:acm:...)", arn)
	}
	return nil
}

func (c *Config) validateCloudflare() error {
	cf := c.Cloudflare
	switch cf.Access.Mode {
	case AccessPerDesktop, AccessWildcard:
	default:
		return errorf("cloudflare.access.mode", "%q is not one of per-desktop, wildcard", cf.Access.Mode)
	}
	if cf.Access.SessionDuration <= 0 {
		return errorf("cloudflare.access.sessionDuration", "must be a positive duration such as 24h")
	}
	for _, e := range cf.Allow.Emails {
		if err := ValidateEmail(e); err != nil {
			return errorf("cloudflare.allow.emails", "%v", err)
		}
	}
	for _, d := range cf.Allow.EmailDomains {
		if errs := validation.IsDNS1123Subdomain(d); len(errs) > 0 {
			return errorf("cloudflare.allow.emailDomains", "%q is not a domain", d)
		}
	}
	if !cf.Enabled {
		return nil
	}
	if cf.AccountID == "" {
		return errorf("cloudflare.accountID", "is required when cloudflare.enabled is true")
	}
	if cf.Zone == "" && cf.ZoneID == "" {
		return errorf("cloudflare.zone", "is required when cloudflare.enabled is true "+
			"(or set cloudflare.zoneID)")
	}
	if cf.TeamDomain == "" {
		return errorf("cloudflare.teamDomain", "is required when cloudflare.enabled is true, "+
			"e.g. myteam.cloudflareaccess.com")
	}
	host := strings.TrimPrefix(cf.TeamDomain, "https://")
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return errorf("cloudflare.teamDomain", "%q is not a host such as myteam.cloudflareaccess.com",
			cf.TeamDomain)
	}
	if len(cf.Allow.Emails)+len(cf.Allow.EmailDomains)+len(cf.Allow.Groups) == 0 {
		return errorf("cloudflare.allow", "admits nobody: list emails, emailDomains or groups")
	}
	return nil
}

// ValidateEmail checks that s is a bare email address.
func ValidateEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return fmt.Errorf("%q is not an email address", s)
	}
	return nil
}
