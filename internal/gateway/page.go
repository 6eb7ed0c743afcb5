package gateway

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed web
var webFS embed.FS

var pageTemplate = template.Must(template.ParseFS(webFS, "web/index.html"))

// pageHeaders are the security headers of every page and asset.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; "+
		"style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "+
		"frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// servePage renders the desktop page for the identity the request was let
// in as.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	user := id.Email
	if id.Local {
		user = "local access"
	}
	h := w.Header()
	pageHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	data := map[string]string{"Desktop": s.policy.Load().name, "User": user, "WS": WebsocketPath}
	if err := pageTemplate.Execute(w, data); err != nil {
		s.log.Error("page not rendered", "err", err)
	}
}

// staticHandler serves the page's script and style.
func staticHandler() http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w.Header())
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// noVNCHandler serves noVNC's files from dir, without directory listings.
func noVNCHandler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		pageHeaders(w.Header())
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
