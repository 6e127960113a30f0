// Package metrics is Postern's Prometheus instrumentation: the counters,
// gauges and histograms the server exports on its metrics listener
// (/metrics). Every method is safe on a nil *Metrics, so components run
// uninstrumented in tests that do not care.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the server's metrics.
type Metrics struct {
	reg            *prometheus.Registry
	apiRequests    *prometheus.CounterVec
	signatureFails *prometheus.CounterVec
	tunnelsOpen    prometheus.Gauge
	tunnelsOpened  prometheus.Counter
	tunnelsRefused *prometheus.CounterVec
	tunnelsClosed  *prometheus.CounterVec
	tunnelBytes    *prometheus.CounterVec
	openLatency    prometheus.Histogram
	storeCommit    prometheus.Histogram
	keysPushed     prometheus.Counter
	connsRefused   *prometheus.CounterVec
}

// New makes the metrics and a registry holding them and the Go runtime's
// and the process's own.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "postern_api_requests_total",
		Help: "API requests by service, action and answer code (\"OK\" on success)."}, []string{"service", "action", "code"})
	m.signatureFails = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "postern_signature_failures_total",
		Help: "Requests whose SigV4 signature was refused, by error code."}, []string{"code"})
	m.tunnelsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "postern_tunnels_open", Help: "Tunnels open now."})
	m.tunnelsOpened = prometheus.NewCounter(prometheus.CounterOpts{Name: "postern_tunnels_opened_total", Help: "Tunnels opened."})
	m.tunnelsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "postern_tunnels_refused_total",
		Help: "Tunnel attempts refused, by reason (signature, replay, endpoint, no_agent, port, address, iam, security_group, concurrency, dial, …)."}, []string{"reason"})
	m.tunnelsClosed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "postern_tunnels_closed_total",
		Help: "Tunnels closed, by reason (Normal, MaxDuration, Revoked, AgentLost, TargetReset, ClientGone, …)."}, []string{"reason"})
	m.tunnelBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "postern_tunnel_bytes_total",
		Help: "Bytes carried by tunnels, by direction (in: client to target; out: target to client)."}, []string{"direction"})
	m.openLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "postern_tunnel_open_seconds",
		Help:    "Time from an openTunnel request to its 101 answer (checks, agent dial, audit commit).",
		Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 10}})
	m.storeCommit = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "postern_store_commit_seconds",
		Help:    "Time to commit a batch of audit records to the store.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1}})
	m.keysPushed = prometheus.NewCounter(prometheus.CounterOpts{Name: "postern_ssh_keys_pushed_total", Help: "SSH public keys pushed with SendSSHPublicKey."})
	m.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "postern_connections_refused_total",
		Help: "Connections closed as soon as accepted, by reason (per_source_limit: the source held too many unauthenticated connections)."}, []string{"reason"})
	m.reg.MustRegister(m.connsRefused, m.apiRequests, m.signatureFails, m.tunnelsOpen, m.tunnelsOpened, m.tunnelsRefused, m.tunnelsClosed,
		m.tunnelBytes, m.openLatency, m.storeCommit, m.keysPushed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// GaugeFunc registers a gauge whose value f reports at each scrape.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// APIRequest counts an API call.
func (m *Metrics) APIRequest(service, action, code string) {
	if m == nil {
		return
	}
	if code == "" {
		code = "OK"
	}
	m.apiRequests.WithLabelValues(service, action, code).Inc()
}

// SignatureFailure counts a refused signature.
func (m *Metrics) SignatureFailure(code string) {
	if m != nil {
		m.signatureFails.WithLabelValues(code).Inc()
	}
}

// TunnelRefused counts a refused tunnel attempt.
func (m *Metrics) TunnelRefused(reason string) {
	if m != nil {
		m.tunnelsRefused.WithLabelValues(reason).Inc()
	}
}

// ConnectionRefused counts a connection closed as soon as it was accepted.
func (m *Metrics) ConnectionRefused(reason string) {
	if m != nil {
		m.connsRefused.WithLabelValues(reason).Inc()
	}
}

// TunnelOpened counts an opened tunnel and how long opening it took.
func (m *Metrics) TunnelOpened(took time.Duration) {
	if m != nil {
		m.tunnelsOpened.Inc()
		m.tunnelsOpen.Inc()
		m.openLatency.Observe(took.Seconds())
	}
}

// TunnelClosed counts a closed tunnel with its bytes.
func (m *Metrics) TunnelClosed(reason string, in, out int64) {
	if m != nil {
		m.tunnelsOpen.Dec()
		m.tunnelsClosed.WithLabelValues(reason).Inc()
		m.tunnelBytes.WithLabelValues("in").Add(float64(in))
		m.tunnelBytes.WithLabelValues("out").Add(float64(out))
	}
}

// TunnelBytes counts bytes of an open tunnel as they flow.
func (m *Metrics) TunnelBytes(direction string, n int) {
	if m != nil {
		m.tunnelBytes.WithLabelValues(direction).Add(float64(n))
	}
}

// StoreCommit observes an audit commit's duration.
func (m *Metrics) StoreCommit(took time.Duration) {
	if m != nil {
		m.storeCommit.Observe(took.Seconds())
	}
}

// KeyPushed counts a pushed SSH key.
func (m *Metrics) KeyPushed() {
	if m != nil {
		m.keysPushed.Inc()
	}
}
