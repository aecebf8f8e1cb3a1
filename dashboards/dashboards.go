package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Datasource variables the dashboards use for their data sources.
const (
	PrometheusVar = "${DS_PROMETHEUS}"
	LokiVar       = "${DS_LOKI}"
)

// Query is one query of a dashboard: a panel target or a query variable.
type Query struct {
	Dashboard string // file name
	Panel     string // panel title, or "variable <name>"
	RefID     string
	// Datasource is PrometheusVar or LokiVar.
	Datasource string
	// Expr is the query as written in the dashboard, with Grafana
	// variables.
	Expr string
	// Instant is true for table and stat panels that ask for one point.
	Instant bool
	// Exemplar is true when the target asks for exemplars.
	Exemplar bool
}

// Dashboard is what the tests need of a dashboard JSON file.
type Dashboard struct {
	File    string
	UID     string
	Title   string
	Panels  int // panels with queries (rows not counted)
	Queries []Query
	// Vars are the dashboard's template variables with the value the
	// tests give them: the allValue of query variables (their "All"), the first
	// option of a custom variable.
	Vars map[string]string
	// DatasourceVars are the names of its data source variables.
	DatasourceVars []string
	// SchemaVersion is Grafana's dashboard schema version.
	SchemaVersion int
}

type dashboardJSON struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []panelJSON `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			AllValue   string          `json:"allValue"`
			Query      json.RawMessage `json:"query"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panelJSON struct {
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Panels     []panelJSON `json:"panels"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Instant    bool   `json:"instant"`
		Exemplar   bool   `json:"exemplar"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

// Load reads every *.json dashboard in dir, sorted by file name.
func Load(dir string) ([]Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Dashboard
	for _, f := range files {
		d, err := loadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func loadFile(file string) (Dashboard, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Dashboard{}, err
	}
	var dj dashboardJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&dj); err != nil {
		return Dashboard{}, fmt.Errorf("%s: %w", file, err)
	}
	d := Dashboard{File: filepath.Base(file), UID: dj.UID, Title: dj.Title, Vars: map[string]string{}, SchemaVersion: dj.SchemaVersion}
	for _, v := range dj.Templating.List {
		switch v.Type {
		case "datasource":
			d.DatasourceVars = append(d.DatasourceVars, v.Name)
		case "query":
			d.Vars[v.Name] = v.AllValue
			if v.AllValue == "" {
				return d, fmt.Errorf("%s: variable %s has no allValue", file, v.Name)
			}
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				return d, fmt.Errorf("%s: variable %s: %w", file, v.Name, err)
			}
			ds := ""
			if v.Datasource != nil {
				ds = v.Datasource.UID
			}
			d.Queries = append(d.Queries, Query{Dashboard: d.File, Panel: "variable " + v.Name, Datasource: ds, Expr: q.Query})
		case "custom":
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil {
				return d, fmt.Errorf("%s: variable %s: %w", file, v.Name, err)
			}
			d.Vars[v.Name] = strings.TrimSpace(strings.Split(q, ",")[0])
		default:
			return d, fmt.Errorf("%s: variable %s of type %q: the tests do not know how to fill it", file, v.Name, v.Type)
		}
	}
	var walk func([]panelJSON) error
	walk = func(ps []panelJSON) error {
		for _, p := range ps {
			if p.Type == "row" {
				if err := walk(p.Panels); err != nil {
					return err
				}
				continue
			}
			if len(p.Targets) == 0 {
				return fmt.Errorf("%s: panel %q has no query", file, p.Title)
			}
			d.Panels++
			for _, tg := range p.Targets {
				ds := ""
				if tg.Datasource != nil {
					ds = tg.Datasource.UID
				} else if p.Datasource != nil {
					ds = p.Datasource.UID
				}
				d.Queries = append(d.Queries, Query{
					Dashboard: d.File, Panel: p.Title, RefID: tg.RefID, Datasource: ds,
					Expr: tg.Expr, Instant: tg.Instant, Exemplar: tg.Exemplar,
				})
			}
		}
		return nil
	}
	return d, walk(dj.Panels)
}

// Grafana's global variables, with the values the tests use: short
// windows, because the test servers hold minutes of data at most.
var globals = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__auto":          "1m",
	"__range":         "5m",
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z0-9_]+)`)

// Expand replaces the Grafana variables in q.Expr ($name, ${name}) by the
// values of vars and of Grafana's globals ($__rate_interval, ...). An
// unknown variable is an error.
func Expand(expr string, vars map[string]string) (string, error) {
	var unknown []string
	out := varRef.ReplaceAllStringFunc(expr, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := vars[name]; ok {
			return v
		}
		if v, ok := globals[name]; ok {
			return v
		}
		unknown = append(unknown, name)
		return m
	})
	if len(unknown) > 0 {
		return out, fmt.Errorf("unknown variables %v in %q", unknown, expr)
	}
	return out, nil
}

// LabelValuesQuery splits a Grafana Prometheus variable query
// label_values(selector, label) into its selector and label.
func LabelValuesQuery(q string) (selector, label string, err error) {
	m := regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`).FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return "", "", fmt.Errorf("variable query %q is not label_values(selector, label)", q)
	}
	return m[1], m[2], nil
}

// PipelineMetrics are the series outpost's pipelines produce that the
// dashboards use, as Prometheus stores them after remote write: the
// spanmetrics connector's calls counter and duration histogram under its
// default namespace (traces.span.metrics) and unit (ms).
var PipelineMetrics = []string{
	"traces_span_metrics_calls_total",
	"traces_span_metrics_duration_milliseconds_bucket",
	"traces_span_metrics_duration_milliseconds_count",
	"traces_span_metrics_duration_milliseconds_sum",
}

// LokiLabels are the stream labels the loki exporter sets by default
// (lokiexporter.DefaultLabels); LogQL selectors may use only these.
var LokiLabels = []string{"service_name", "node", "site", "level"}

var metricRow = regexp.MustCompile("^\\| `([a-z_:][a-z0-9_:]*)` \\| (counter|gauge|histogram|summary) \\|")

// DocumentedMetrics reads docs/metrics.md and returns every series name it
// documents: the families of its tables, with _bucket, _count and _sum for
// histograms and _count and _sum for summaries.
func DocumentedMetrics(file string) (map[string]bool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		m := metricRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		out[m[1]] = true
		switch m[2] {
		case "histogram":
			out[m[1]+"_bucket"], out[m[1]+"_count"], out[m[1]+"_sum"] = true, true, true
		case "summary":
			out[m[1]+"_count"], out[m[1]+"_sum"] = true, true
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no metric table rows found", file)
	}
	return out, nil
}

// Kinds of correlation link in the data source provisioning.
const (
	// LinkExemplar: a Prometheus exemplar's label (Field) holds the trace
	// id to open in Target.
	LinkExemplar = "exemplar"
	// LinkDerivedField: a Loki line's label or structured metadata entry
	// (Field) holds the trace id; Template is the query in Target.
	LinkDerivedField = "derived field"
	// LinkTraceToLogs: Template is the LogQL query in Target for a trace.
	LinkTraceToLogs = "trace to logs"
	// LinkTraceToMetrics: Template is a PromQL query in Target for a span.
	LinkTraceToMetrics = "trace to metrics"
)

// Link is one correlation link of the data source provisioning, with its
// template unescaped ($$ is $ in provisioning files).
type Link struct {
	Kind, Name     string
	Source, Target string // data source uids
	Field          string
	Template       string
	// Tags map span attributes (Key) to label names (Value, or Key when
	// empty) for $__tags.
	Tags []TagMap
}

// TagMap is one entry of a trace link's tags.
type TagMap struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// Apply fills the link's template as Grafana does for a span with the
// attributes attrs (by attribute key) in the trace traceID: ${__tags} and
// $__tags become label="value" pairs, ${__trace.traceId} and
// ${__value.raw} the trace id. For an exemplar link it returns the trace
// id itself.
func (l Link) Apply(attrs map[string]string, traceID string) string {
	if l.Kind == LinkExemplar {
		return traceID
	}
	var tags []string
	for _, tm := range l.Tags {
		v, ok := attrs[tm.Key]
		if !ok {
			continue
		}
		name := tm.Value
		if name == "" {
			name = tm.Key
		}
		tags = append(tags, fmt.Sprintf("%s=%q", name, v))
	}
	return strings.NewReplacer(
		"${__tags}", strings.Join(tags, ", "),
		"$__tags", strings.Join(tags, ", "),
		"${__trace.traceId}", traceID,
		"${__value.raw}", traceID,
	).Replace(l.Template)
}

// ReadLinks reads the correlation links of a data source provisioning
// file.
func ReadLinks(file string) ([]Link, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var f struct {
		Datasources []struct {
			UID      string `yaml:"uid"`
			JSONData struct {
				Exemplars []struct {
					Name          string `yaml:"name"`
					DatasourceUID string `yaml:"datasourceUid"`
				} `yaml:"exemplarTraceIdDestinations"`
				DerivedFields []struct {
					Name          string `yaml:"name"`
					MatcherType   string `yaml:"matcherType"`
					MatcherRegex  string `yaml:"matcherRegex"`
					DatasourceUID string `yaml:"datasourceUid"`
					URL           string `yaml:"url"`
				} `yaml:"derivedFields"`
				TracesToLogs *struct {
					DatasourceUID string   `yaml:"datasourceUid"`
					Tags          []TagMap `yaml:"tags"`
					CustomQuery   bool     `yaml:"customQuery"`
					Query         string   `yaml:"query"`
				} `yaml:"tracesToLogsV2"`
				TracesToMetrics *struct {
					DatasourceUID string   `yaml:"datasourceUid"`
					Tags          []TagMap `yaml:"tags"`
					Queries       []struct {
						Name  string `yaml:"name"`
						Query string `yaml:"query"`
					} `yaml:"queries"`
				} `yaml:"tracesToMetrics"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	unescape := func(s string) string { return strings.ReplaceAll(s, "$$", "$") }
	var out []Link
	for _, d := range f.Datasources {
		j := d.JSONData
		for _, e := range j.Exemplars {
			out = append(out, Link{Kind: LinkExemplar, Name: e.Name, Source: d.UID, Target: e.DatasourceUID, Field: e.Name})
		}
		for _, df := range j.DerivedFields {
			if df.MatcherType != "label" {
				return nil, fmt.Errorf("%s: derived field %s: matcherType %q, want label (structured metadata)", file, df.Name, df.MatcherType)
			}
			out = append(out, Link{Kind: LinkDerivedField, Name: df.Name, Source: d.UID, Target: df.DatasourceUID, Field: df.MatcherRegex, Template: unescape(df.URL)})
		}
		if tl := j.TracesToLogs; tl != nil {
			if !tl.CustomQuery {
				return nil, fmt.Errorf("%s: tracesToLogsV2 without customQuery: the tests check only a custom query", file)
			}
			out = append(out, Link{Kind: LinkTraceToLogs, Name: "logs", Source: d.UID, Target: tl.DatasourceUID, Template: unescape(tl.Query), Tags: tl.Tags})
		}
		if tm := j.TracesToMetrics; tm != nil {
			for _, q := range tm.Queries {
				out = append(out, Link{Kind: LinkTraceToMetrics, Name: q.Name, Source: d.UID, Target: tm.DatasourceUID, Template: unescape(q.Query), Tags: tm.Tags})
			}
		}
	}
	return out, nil
}
