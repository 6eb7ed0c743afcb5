package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Directions of relayed bytes, as metric label values.
const (
	toViewer = "to_viewer"
	toVNC    = "to_vnc"
)

// metrics are deskgate's Prometheus series. Label values come from fixed
// sets only; no email or address ever becomes a label.
type metrics struct {
	registry *prometheus.Registry

	sessionsActive prometheus.Gauge
	sessionsTotal  *prometheus.CounterVec
	relayBytes     *prometheus.CounterVec
	authFailures   *prometheus.CounterVec
	accessReloads  *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		sessionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deskgate_sessions_active",
			Help: "Websocket sessions currently relayed to the VNC server.",
		}),
		sessionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deskgate_sessions_total",
			Help: "Sessions by how they began: ok, or where they failed " +
				"(vnc_password, vnc_dial, vnc_handshake, upgrade, viewer_handshake).",
		}, []string{"result"}),
		relayBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deskgate_relay_bytes_total",
			Help: "Bytes relayed after the handshake, by direction (to_viewer, to_vnc).",
		}, []string{"direction"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deskgate_auth_failures_total",
			Help: "Requests refused, by reason.",
		}, []string{"reason"}),
		accessReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deskgate_access_config_reloads_total",
			Help: "Re-reads of the access config file that changed it, by result (ok, error).",
		}, []string{"result"}),
	}
	m.registry.MustRegister(
		m.sessionsActive, m.sessionsTotal, m.relayBytes, m.authFailures, m.accessReloads,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	// Show both directions from the start, at zero.
	m.relayBytes.WithLabelValues(toViewer)
	m.relayBytes.WithLabelValues(toVNC)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
