// Package dashboards holds no code: it is the home of outpost's Grafana
// dashboards (*.json), their provisioning (provisioning/) and the
// Prometheus alerting rules (alerts/), and of the tests that check them.
//
// dashboards_test.go checks, without any server, that every panel's,
// variable's and rule's PromQL parses with Prometheus's own parser after
// the Grafana variables are replaced, and that it names only metrics
// outpost documents in docs/metrics.md or that its pipelines produce (the
// spanmetrics connector's series); that the provisioning's data source
// links point at provisioned data sources; and, with bin/promtool, that
// `promtool check rules` and `promtool test rules` pass. The test that runs
// every query against a real Prometheus and Loki fed by a running outpost
// is TestDashboardsAgainstRealServers in cmd/outpost.
package dashboards
