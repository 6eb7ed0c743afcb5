package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/deskctl/deskctl/internal/desktop"
	"github.com/deskctl/deskctl/pkg/accessjwt"
)

// accessRecheck is how often the access config file is re-read even when no
// change was notified, in case a notification was lost.
const accessRecheck = 30 * time.Second

// policy is who may use this desktop right now. It is replaced whole when
// the access config changes and never modified in place.
type policy struct {
	// verifier checks tokens of the team; nil when no team is known, and
	// then every token is refused.
	verifier *accessjwt.Verifier
	// audiences are the Access application tags accepted.
	audiences []string
	// users, when not empty, are the lowercased identities allowed.
	users map[string]bool
	// name is the desktop's name: its key in the access config when that
	// names this pod, else the --desktop value.
	name string
}

// allows reports whether identity may use the desktop.
func (p *policy) allows(identity string) bool {
	return len(p.users) == 0 || p.users[strings.ToLower(identity)]
}

// buildPolicy combines the flags with the access config file's content for
// this desktop. prev lends its verifier when the team is unchanged, keeping
// the cached keys.
func (s *Server) buildPolicy(file *desktop.AccessConfig, prev *policy) (*policy, error) {
	team := s.cfg.TeamDomain
	audiences := slices.Clone(s.cfg.Audiences)
	users := slices.Clone(s.cfg.AllowEmails)
	if file != nil {
		if team == "" {
			team = file.TeamDomain
		}
		aud, u := file.For(s.cfg.Desktop)
		audiences = append(audiences, aud...)
		users = append(users, u...)
	}

	p := &policy{audiences: compact(audiences), users: map[string]bool{}, name: s.cfg.Desktop}
	if file != nil {
		p.name = desktopName(file, s.cfg.Desktop)
	}
	for _, u := range users {
		if u = strings.ToLower(strings.TrimSpace(u)); u != "" {
			p.users[u] = true
		}
	}
	if team == "" {
		return p, nil
	}

	issuer, err := accessjwt.TeamURL(team)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.verifier != nil && prev.verifier.Issuer() == issuer {
		p.verifier = prev.verifier
		return p, nil
	}
	p.verifier, err = accessjwt.New(accessjwt.Config{Issuer: issuer, HTTPClient: s.cfg.HTTPClient})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// desktopName returns the access config's key for the desktop that the
// gateway knows as name, which may be its pod's name.
func desktopName(ac *desktop.AccessConfig, name string) string {
	if _, ok := ac.Desktops[name]; ok {
		return name
	}
	for key, d := range ac.Desktops {
		if d.Pod != "" && d.Pod == name {
			return key
		}
	}
	return name
}

// compact drops empty and repeated entries.
func compact(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// readAccessConfig reads and parses the access config file.
func readAccessConfig(path string) (*desktop.AccessConfig, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read access config: %w", err)
	}
	var ac desktop.AccessConfig
	if err := json.Unmarshal(raw, &ac); err != nil {
		return nil, raw, fmt.Errorf("parse access config %s: %w", path, err)
	}
	return &ac, raw, nil
}

// reloadAccess re-reads the access config file and swaps the policy when
// its content changed. A file that cannot be read or parsed leaves the
// current policy in place.
func (s *Server) reloadAccess() {
	log := s.log.With("file", s.cfg.AccessConfigFile)
	ac, raw, err := readAccessConfig(s.cfg.AccessConfigFile)
	if raw != nil && bytes.Equal(raw, s.accessRaw) {
		return
	}
	if err != nil {
		s.metrics.accessReloads.WithLabelValues("error").Inc()
		log.Error("access config not applied", "err", err)
		return
	}
	p, err := s.buildPolicy(ac, s.policy.Load())
	if err != nil {
		s.metrics.accessReloads.WithLabelValues("error").Inc()
		log.Error("access config not applied", "err", err)
		return
	}
	s.accessRaw = raw
	s.policy.Store(p)
	s.metrics.accessReloads.WithLabelValues("ok").Inc()
	log.Info("access config applied", "audiences", len(p.audiences), "users", len(p.users),
		"team", ac.TeamDomain)
}

// watchAccess re-reads the access config whenever its directory changes, and
// every accessRecheck in any case, until ctx ends. Kubernetes updates a
// mounted ConfigMap by swapping a symlink in that directory, so the
// directory is watched rather than the file.
func (s *Server) watchAccess(ctx context.Context) {
	if s.cfg.AccessConfigFile == "" {
		return
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(filepath.Dir(s.cfg.AccessConfigFile))
	}
	if err != nil {
		s.log.Warn("access config not watched, re-reading periodically", "err", err)
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}

	tick := time.NewTicker(accessRecheck)
	defer tick.Stop()
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			// Let a burst of events settle before reading once.
			settle = time.After(100 * time.Millisecond)
		case err := <-errs:
			s.log.Warn("access config watch", "err", err)
		case <-settle:
			s.reloadAccess()
		case <-tick.C:
			s.reloadAccess()
		}
	}
}
