package desktop

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ListAPIVersion and ListKind identify the JSON and YAML output of ls. The
// schema is stable: fields are only ever added.
const (
	ListAPIVersion = "deskctl.io/v1"
	ListKind       = "DesktopList"
)

// Status values of a desktop.
const (
	StatusReady     = "Ready"
	StatusStarting  = "Starting"
	StatusPending   = "Pending"
	StatusMissing   = "Missing"
	StatusStopping  = "Terminating"
	StatusWaitingLB = "WaitingForLoadBalancer"
)

// Item is one desktop as ls reports it.
type Item struct {
	Name    string   `json:"name"`
	Ordinal int      `json:"ordinal"`
	Pod     string   `json:"pod"`
	Host    string   `json:"host"`
	URL     string   `json:"url"`
	Status  string   `json:"status"`
	Ready   bool     `json:"ready"`
	Node    string   `json:"node"`
	PodIP   string   `json:"podIP"`
	Users   []string `json:"users"`
	Created string   `json:"created"`
	Group   string   `json:"group,omitempty"`
	Address string   `json:"address,omitempty"`
	Access  string   `json:"access,omitempty"`
}

// List is the output of ls.
type List struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []Item `json:"items"`
}

// NewList returns a list of items with its type set.
func NewList(items []Item) *List {
	if items == nil {
		items = []Item{}
	}
	return &List{APIVersion: ListAPIVersion, Kind: ListKind, Items: items}
}

// GetObjectKind lets kubectl's printers print a List.
func (l *List) GetObjectKind() schema.ObjectKind { return l }

// DeepCopyObject lets kubectl's printers print a List.
func (l *List) DeepCopyObject() runtime.Object {
	c := *l
	c.Items = make([]Item, len(l.Items))
	for i, it := range l.Items {
		it.Users = append([]string{}, it.Users...)
		c.Items[i] = it
	}
	return &c
}

// SetGroupVersionKind implements schema.ObjectKind.
func (l *List) SetGroupVersionKind(gvk schema.GroupVersionKind) {
	l.APIVersion, l.Kind = gvk.ToAPIVersionAndKind()
}

// GroupVersionKind implements schema.ObjectKind.
func (l *List) GroupVersionKind() schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(l.APIVersion, l.Kind)
}
