package desktop

// AccessConfigKey is the key of the gateway ConfigMap that holds the
// JSON-encoded AccessConfig.
const AccessConfigKey = "access.json"

// AccessConfig is what deskctl tells every gateway of a set about Cloudflare
// Access: which application audiences a token may carry and who may use each
// desktop. deskctl writes it into the set's gateway ConfigMap; deskgate reads
// the mounted file and re-reads it when it changes.
type AccessConfig struct {
	// TeamDomain is the Access team domain, e.g. myteam.cloudflareaccess.com.
	TeamDomain string `json:"teamDomain"`

	// AUD lists audiences valid for every desktop of the set (wildcard mode).
	AUD []string `json:"aud,omitempty"`

	// Desktops maps a desktop name (pod3) to its own settings.
	Desktops map[string]DesktopAccess `json:"desktops,omitempty"`
}

// DesktopAccess is the Access configuration of one desktop.
type DesktopAccess struct {
	// Pod is the desktop's pod (desk-3): a gateway knows its pod's name
	// before it knows its desktop's.
	Pod string `json:"pod,omitempty"`

	// AUD lists the audiences of the desktop's own Access application.
	AUD []string `json:"aud,omitempty"`

	// Users, when not empty, are the only emails allowed on the desktop.
	Users []string `json:"users,omitempty"`
}

// For returns the audiences and users that apply to a desktop, named by
// its desktop name (pod3) or its pod (desk-3): the set-wide audiences plus
// the desktop's own.
func (c AccessConfig) For(name string) (aud, users []string) {
	d, ok := c.Desktops[name]
	if !ok {
		for _, e := range c.Desktops {
			if e.Pod != "" && e.Pod == name {
				d = e
				break
			}
		}
	}
	aud = append(append([]string{}, c.AUD...), d.AUD...)
	return aud, append([]string{}, d.Users...)
}
