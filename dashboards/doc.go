// Package dashboards is the home of outpost's Grafana dashboards
// (*.json), their provisioning (provisioning/) and the Prometheus alerting
// rules (alerts/), and holds what the tests need to read them: Load (the
// queries of every panel and variable), Expand (Grafana's variables filled
// in as the tests fill them), DocumentedMetrics (the names
// docs/metrics.md lists) and ReadLinks (the correlation links of the data
// source provisioning, applied as Grafana applies them). No outpost binary
// imports it.
//
// dashboards_test.go checks, without any server, that every panel's,
// variable's and rule's PromQL parses with Prometheus's own parser after
// the variables are filled in, and that it names only metrics outpost
// documents in docs/metrics.md or that its pipelines produce (the
// spanmetrics connector's series); that the provisioning's links point at
// provisioned data sources; and, with bin/promtool, that `promtool check
// rules` and `promtool test rules` pass. TestDashboardsAgainstRealServers
// in cmd/outpost runs every query against a real Prometheus and Loki fed
// by a running outpost, shows a rule firing and follows every link.
package dashboards
