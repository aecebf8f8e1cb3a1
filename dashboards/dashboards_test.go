package dashboards

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/outpost-edge/outpost/internal/testutil"
)

var promqlParser = parser.NewParser(parser.Options{})

// allowedMetrics is what a query may name: the families docs/metrics.md
// documents and the series the pipelines produce.
func allowedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	m, err := DocumentedMetrics(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range PipelineMetrics {
		m[n] = true
	}
	return m
}

// checkPromQL parses expr and reports every metric name it selects that
// is not allowed, and selectors without a metric name.
func checkPromQL(t *testing.T, where, expr string, allowed map[string]bool) {
	t.Helper()
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			t.Errorf("%s: selector %s has no metric name", where, vs)
		} else if !allowed[vs.Name] {
			t.Errorf("%s: metric %s is neither in docs/metrics.md nor produced by a pipeline", where, vs.Name)
		}
		return nil
	})
}

var logqlSelector = regexp.MustCompile(`\{([^{}]*)\}`)
var logqlMatcher = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"[^"]*"\s*$`)

// checkLogQL checks what can be checked of LogQL without Loki's parser
// (grafana/loki/v3 is AGPL, never imported): every stream selector has
// well-formed matchers on the loki exporter's stream labels. The real
// Loki parses and runs every LogQL query in cmd/outpost's
// TestDashboardsAgainstRealServers.
func checkLogQL(t *testing.T, where, expr string) {
	t.Helper()
	sels := logqlSelector.FindAllStringSubmatch(expr, -1)
	if len(sels) == 0 || strings.Count(expr, "(") != strings.Count(expr, ")") {
		t.Errorf("%s: %q: no stream selector, or unbalanced parentheses", where, expr)
		return
	}
	for _, s := range sels {
		for _, m := range strings.Split(s[1], ",") {
			mm := logqlMatcher.FindStringSubmatch(m)
			if mm == nil {
				t.Errorf("%s: %q: matcher %q does not parse", where, expr, m)
			} else if !slices.Contains(LokiLabels, mm[1]) {
				t.Errorf("%s: %q: %s is not a stream label of the loki exporter (%v)", where, expr, mm[1], LokiLabels)
			}
		}
	}
}

// TestDashboardQueriesParse: every panel's and variable's query, with the
// variables filled in, parses (PromQL with Prometheus's parser) and names
// only documented metrics or the loki exporter's labels.
func TestDashboardQueriesParse(t *testing.T) {
	dashes, err := Load(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(dashes) != 3 {
		t.Fatalf("%d dashboards, want outpost node, edge fleet and service RED", len(dashes))
	}
	allowed := allowedMetrics(t)
	panels, queries := 0, 0
	uids := map[string]string{}
	for _, d := range dashes {
		if d.UID == "" || uids[d.UID] != "" {
			t.Errorf("%s: uid %q empty or used by %s too", d.File, d.UID, uids[d.UID])
		}
		uids[d.UID] = d.File
		// Grafana 11.0 writes schema 39; 12 reads it and migrates on save.
		if d.SchemaVersion < 39 {
			t.Errorf("%s: schemaVersion %d, want Grafana 11/12's (39 or later)", d.File, d.SchemaVersion)
		}
		panels += d.Panels
		for _, q := range d.Queries {
			queries++
			where := d.File + ": " + q.Panel + " " + q.RefID
			expr, err := Expand(q.Expr, d.Vars)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if name := strings.TrimSuffix(strings.TrimPrefix(q.Datasource, "${"), "}"); !slices.Contains(d.DatasourceVars, name) {
				t.Errorf("%s: data source %s is not a data source variable of the dashboard (%v)", where, q.Datasource, d.DatasourceVars)
			}
			switch q.Datasource {
			case PrometheusVar:
				if strings.HasPrefix(q.Panel, "variable ") {
					sel, _, err := LabelValuesQuery(expr)
					if err != nil {
						t.Errorf("%s: %v", where, err)
						continue
					}
					expr = sel
				}
				checkPromQL(t, where, expr, allowed)
			case LokiVar:
				checkLogQL(t, where, expr)
			default:
				t.Errorf("%s: data source %q, want %s or %s", where, q.Datasource, PrometheusVar, LokiVar)
			}
		}
	}
	t.Logf("checked %d dashboards, %d panels, %d queries (variables included)", len(dashes), panels, queries)
}

// ruleFile is the Prometheus rule file format, strictly decoded (the
// full validation is `promtool check rules` in TestPromtoolRules).
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRulesParse: the rule file decodes strictly as Prometheus rule
// format, every rule expression parses and names only documented
// metrics, and every rule has a severity and a summary.
func TestAlertRulesParse(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("alerts", "outpost.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatal(err)
	}
	allowed := allowedMetrics(t)
	n := 0
	names := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			names[r.Alert] = true
			checkPromQL(t, "rule "+r.Alert, r.Expr, allowed)
			if r.Alert == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %q: wants an alert name, a summary annotation and a severity label", r.Alert)
			}
		}
	}
	for _, want := range []string{"OutpostQueueNearlyFull", "OutpostQueueOldestItemOld", "OutpostQueueDropping", "OutpostExporterCredentialsRejected", "OutpostNodeSilent", "OutpostMemoryNearLimit", "OutpostConfigReloadFailing", "OutpostVersionDrift"} {
		if !names[want] {
			t.Errorf("no rule %s", want)
		}
	}
	t.Logf("checked %d rules", n)
}

// TestPromtoolRules runs the real promtool (bin/promtool, built by `make
// bin/promtool` from the Prometheus module the project builds) on the
// rules: `check rules` and the unit tests of outpost.rules.test.yml.
func TestPromtoolRules(t *testing.T) {
	bin := testutil.Binary(t, "PROMTOOL_BIN", "promtool")
	for _, args := range [][]string{
		{"check", "rules", "outpost.rules.yml"},
		{"test", "rules", "outpost.rules.test.yml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "alerts"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// datasources is the part of the provisioning file the tests read.
type datasources struct {
	Datasources []struct {
		Name     string         `yaml:"name"`
		UID      string         `yaml:"uid"`
		Type     string         `yaml:"type"`
		JSONData map[string]any `yaml:"jsonData"`
	} `yaml:"datasources"`
}

// LoadDatasources reads the data source provisioning file.
func loadDatasources(t *testing.T) datasources {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("provisioning", "datasources", "outpost.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds datasources
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestProvisioningLinks: every correlation link of the data source
// provisioning points at a provisioned data source, and the metric
// queries a trace links to parse and name documented metrics. That the
// links resolve against real data is TestCorrelationEndToEnd in
// cmd/outpost.
func TestProvisioningLinks(t *testing.T) {
	ds := loadDatasources(t)
	types := map[string]string{}
	for _, d := range ds.Datasources {
		types[d.UID] = d.Type
	}
	for uid, typ := range map[string]string{"prometheus": "prometheus", "loki": "loki", "jaeger": "jaeger"} {
		if types[uid] != typ {
			t.Errorf("data source uid %s has type %q, want %s", uid, types[uid], typ)
		}
	}
	links, err := ReadLinks(filepath.Join("provisioning", "datasources", "outpost.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := allowedMetrics(t)
	n := 0
	for _, l := range links {
		n++
		if types[l.Target] == "" {
			t.Errorf("link %s -> %s: no such data source", l.Name, l.Target)
		}
		if l.Kind == LinkTraceToMetrics {
			checkPromQL(t, "trace to metrics "+l.Name, l.Apply(map[string]string{"service.name": "checkout"}, "0123456789abcdef0123456789abcdef"), allowed)
		}
	}
	if n < 6 {
		t.Errorf("%d links, want exemplar, derived field, trace to logs and three trace to metrics", n)
	}
	t.Logf("checked %d links", n)
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"instance": ".*", "silent_minutes": "5"}
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: `rate(x{instance=~"$instance"}[$__rate_interval])`, want: `rate(x{instance=~".*"}[1m])`},
		{in: `x > ${silent_minutes} * 60`, want: `x > 5 * 60`},
		{in: `x{a="${instance:regex}"}`, want: `x{a=".*"}`},
		{in: `increase(x[$__range])`, want: `increase(x[5m])`},
		{in: `x{a="$nope"}`, err: "unknown variables [nope]"},
	} {
		got, err := Expand(tc.in, vars)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Expand(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestLinkApply(t *testing.T) {
	tags := []TagMap{{Key: "service.name", Value: "service_name"}, {Key: "deployment.environment"}}
	attrs := map[string]string{"service.name": "checkout"}
	const id = "0af7651916cd43dd8448eb211c80319c"
	for _, tc := range []struct {
		l    Link
		want string
	}{
		{Link{Kind: LinkExemplar, Field: "trace_id"}, id},
		{Link{Kind: LinkDerivedField, Template: "${__value.raw}"}, id},
		{Link{Kind: LinkTraceToLogs, Template: `{${__tags}} | trace_id="${__trace.traceId}"`, Tags: tags}, `{service_name="checkout"} | trace_id="` + id + `"`},
		{Link{Kind: LinkTraceToMetrics, Template: `sum(rate(m{$__tags}[5m]))`, Tags: tags}, `sum(rate(m{service_name="checkout"}[5m]))`},
	} {
		if got := tc.l.Apply(attrs, id); got != tc.want {
			t.Errorf("%s %q: Apply = %q, want %q", tc.l.Kind, tc.l.Template, got, tc.want)
		}
	}
}
