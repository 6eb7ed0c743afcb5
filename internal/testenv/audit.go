package testenv

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Write is one write request that the admin user made, as the API server's
// audit log recorded it.
type Write struct {
	Verb        string `json:"verb"`
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	// Code is the HTTP status the server answered; failed writes count too.
	Code int `json:"code"`
}

// String names the write like "create services default/desk-1".
func (w Write) String() string {
	res := w.Resource
	if w.Subresource != "" {
		res += "/" + w.Subresource
	}
	obj := w.Name
	if w.Namespace != "" {
		obj = w.Namespace + "/" + w.Name
	}
	return fmt.Sprintf("%s %s %s (%d)", w.Verb, res, obj, w.Code)
}

var writeVerbs = map[string]bool{
	"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true,
}

// Writes returns every write request (create, update, patch, delete,
// deletecollection) that the admin user of Kubeconfig and RESTConfig has
// made since the cluster started, in order. The control plane's own users
// are not counted. Server-side dry runs are writes here too.
func (c *Cluster) Writes() ([]Write, error) {
	f, err := os.Open(c.auditLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()

	var writes []Write
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for scanner.Scan() {
		var ev struct {
			Stage string `json:"stage"`
			Verb  string `json:"verb"`
			User  struct {
				Username string `json:"username"`
			} `json:"user"`
			ObjectRef struct {
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
				Namespace   string `json:"namespace"`
				Name        string `json:"name"`
			} `json:"objectRef"`
			ResponseStatus struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("read audit log %s: %w", c.auditLog, err)
		}
		if ev.Stage != "ResponseComplete" || ev.User.Username != AdminUser || !writeVerbs[ev.Verb] {
			continue
		}
		writes = append(writes, Write{
			Verb:        ev.Verb,
			Resource:    ev.ObjectRef.Resource,
			Subresource: ev.ObjectRef.Subresource,
			Namespace:   ev.ObjectRef.Namespace,
			Name:        ev.ObjectRef.Name,
			Code:        ev.ResponseStatus.Code,
		})
	}
	return writes, scanner.Err()
}

// WriteCount returns how many write requests the admin user has made so far.
// Take it before and after an operation: the difference is what the
// operation wrote.
func (c *Cluster) WriteCount() (int, error) {
	writes, err := c.Writes()
	return len(writes), err
}
