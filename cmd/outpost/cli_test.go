package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/testutil"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runMain(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func configHash(t *testing.T, path string) string {
	t.Helper()
	cfg, err := configs.Load(path, components())
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Hash
}

// The configuration file is found however it is given; given twice, or
// next to a bare argument, it is refused; a bare file is used, never
// ignored.
func TestConfigFlag(t *testing.T) {
	const valid, bad = "testdata/valid.yaml", "testdata/three-errors.yaml"
	ok := fmt.Sprintf("%s: valid (1 pipelines, config hash %s)\n", valid, configHash(t, valid))
	for _, args := range [][]string{
		{"validate", "-c", valid},
		{"validate", "--config", valid},
		{"validate", "--config=" + valid},
		{"validate", "-c=" + valid},
		{"validate", valid},
	} {
		code, out, errOut := runCLI(args...)
		if code != 0 || out != ok || errOut != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0, %q", args, code, out, errOut, ok)
		}
	}
	// A bare file is the file validated: the bad one fails.
	if code, _, errOut := runCLI("validate", bad); code != 1 || !strings.HasSuffix(errOut, bad+": 3 error(s)\n") {
		t.Errorf("validate %s: exit %d\n%s", bad, code, errOut)
	}
	refused := []struct {
		args []string
		want string // the first line on stderr
	}{
		{[]string{"validate", "-c", valid, "-c", bad},
			`outpost validate: invalid value "testdata/three-errors.yaml" for flag -c: the configuration file is given twice (testdata/valid.yaml and testdata/three-errors.yaml); outpost reads one file and does not merge`},
		{[]string{"run", "--config", valid, "-c", bad},
			`outpost run: invalid value "testdata/three-errors.yaml" for flag -c: the configuration file is given twice (testdata/valid.yaml and testdata/three-errors.yaml); outpost reads one file and does not merge`},
		{[]string{"validate", "-c", valid, bad},
			`outpost validate: unexpected argument "testdata/three-errors.yaml": the configuration file is already given with -c testdata/valid.yaml`},
		{[]string{"print-config", valid, bad},
			`outpost print-config: unexpected arguments ["testdata/valid.yaml" "testdata/three-errors.yaml"]: give one configuration file, with -c FILE`},
		{[]string{"run", "--frobnicate"},
			`outpost run: flag provided but not defined: -frobnicate`},
	}
	for _, c := range refused {
		code, out, errOut := runCLI(c.args...)
		first, _, _ := strings.Cut(errOut, "\n")
		if code != 2 || first != c.want || out != "" {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit 2 and first line:\n%s", c.args, code, errOut, c.want)
		}
		if !strings.Contains(errOut, "usage: outpost ") {
			t.Errorf("%q: no usage on stderr:\n%s", c.args, errOut)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"run", "validate", "print-config"} {
		for _, h := range []string{"--help", "-h"} {
			code, out, errOut := runCLI(cmd, h)
			want := "usage: outpost " + cmd + " [-c FILE | --config FILE | FILE] [flags]\n"
			if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(out, "-config value") || errOut != "" {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", cmd, h, code, out, errOut)
			}
		}
	}
	if code, out, _ := runCLI("run", "--help"); code != 0 || !strings.Contains(out, "-shutdown-timeout duration") {
		t.Errorf("run --help: exit %d\n%s", code, out)
	}
}

// Every component type of components() is listed, under its kind.
func TestComponentsCommand(t *testing.T) {
	code, out, errOut := runCLI("components")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f := components()
	kinds := map[string][]string{"receivers": keysOf(f.Receivers), "processors": keysOf(f.Processors), "exporters": keysOf(f.Exporters), "connectors": keysOf(f.Connectors)}
	for kind, types := range kinds {
		_, section, ok := strings.Cut(out, kind+":\n")
		if !ok {
			t.Fatalf("no %s section:\n%s", kind, out)
		}
		section, _, _ = strings.Cut(section, ":\n  ") // up to the next section
		for _, typ := range types {
			if !strings.Contains(section, "\n  "+typ+" ") && !strings.HasPrefix(section, "  "+typ+" ") {
				t.Errorf("%s %q not listed:\n%s", kind, typ, out)
			}
		}
	}
	if !regexp.MustCompile(`receivers:\n(  .*\n)*  otlp +traces, metrics, logs\n`).MatchString(out) {
		t.Errorf("the otlp receiver's signals are not listed:\n%s", out)
	}
	if !regexp.MustCompile(`\n  spanmetrics +traces -> metrics\n`).MatchString(out) {
		t.Errorf("spanmetrics' signals are not listed:\n%s", out)
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPrintConfig(t *testing.T) {
	t.Setenv("OUTPOST_TEST_PORT", "14999")
	code, out, errOut := runCLI("print-config", "--config", "testdata/secrets.yaml")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, secret := range []string{"hunter2"} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret is printed:\n%s", out)
		}
	}
	for _, want := range []string{
		"        endpoint: 127.0.0.1:14999\n", // expanded
		"        max_recv_msg_size: 4MiB\n",   // a default
		"      x-api-key: '" + clientconfig.Redacted + "'\n",
		"        password: '" + clientconfig.Redacted + "'\n",
		"        username: edge\n",
		"      full_policy: block\n",
		"memory_limit: 256MiB\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("print-config lacks %q:\n%s", want, out)
		}
	}
}

// validate reports what run would refuse once the file loaded: missing
// files, two listeners on a port, memory queues past memory_limit.
func TestValidateFindsWhatRunRefuses(t *testing.T) {
	code, out, errOut := runCLI("validate", "testdata/machine.yaml")
	want := `testdata/machine.yaml:2:15: memory_limit: the memory queues' max_bytes add up to 80MiB, more than memory_limit 64MiB (otlp 48MiB, otlphttp 32MiB): lower their max_bytes, use kind: disk, or raise memory_limit
testdata/machine.yaml:8:3: receivers.otlp/second.protocols.http.endpoint: 127.0.0.1:14317: receivers.otlp.protocols.grpc.endpoint already listens on this port (127.0.0.1:14317): two listeners cannot share a port
testdata/machine.yaml:12:3: exporters.otlp.tls.ca_file: open testdata/no-such-ca.pem: no such file or directory
testdata/machine.yaml:16:3: exporters.otlphttp.auth.bearer_token_file: open testdata/no-such-token: no such file or directory
testdata/machine.yaml: 4 error(s)
`
	if code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, errOut, want)
	}
}

// A relative storage.directory in / (a systemd unit without
// WorkingDirectory) is refused by validate and run, not put in /data.
func TestRelativeStorageInRoot(t *testing.T) {
	path := testdataAbs(t, "default-storage.yaml")
	t.Chdir("/")
	want := path + `: storage.directory "./data" is relative and the working directory is /, so the queues would go to /data: give an absolute path (under systemd with StateDirectory=outpost: /var/lib/outpost, or ${env:STATE_DIRECTORY}; in the container image: /var/lib/outpost)` + "\n"
	if code, _, errOut := runCLI("validate", path); code != 1 || errOut != want {
		t.Errorf("validate: exit %d, stderr:\n%s\nwant:\n%s", code, errOut, want)
	}
	wantRun := `outpost: storage.directory "./data" is relative and the working directory is /, so the queues would go to /data: give an absolute path (under systemd with StateDirectory=outpost: /var/lib/outpost, or ${env:STATE_DIRECTORY}; in the container image: /var/lib/outpost)` + "\n"
	if code, _, errOut := runCLI("run", path); code != 1 || errOut != wantRun {
		t.Errorf("run: exit %d, stderr:\n%s\nwant:\n%s", code, errOut, wantRun)
	}
}

func testdataAbs(t *testing.T, name string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// The effective configuration of every shipped file loads again, to the
// same effective configuration.
func TestPrintConfigRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(t), "configs", "*.yaml"))
	for _, f := range files {
		cfg, err := configs.Load(f, components())
		if err != nil {
			t.Fatal(err)
		}
		first, err := cfg.Effective()
		if err != nil {
			t.Fatal(err)
		}
		again, err := configs.Parse("effective.yaml", first, components(), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatalf("%s: the effective configuration does not load: %v\n%s", filepath.Base(f), err, first)
		}
		second, err := again.Effective()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Errorf("%s: the effective configuration changes when loaded again:\n%s\n---\n%s", filepath.Base(f), first, second)
		}
	}
}

func TestValidateWarnsLiteralDollar(t *testing.T) {
	const path = "testdata/literal-dollar.yaml"
	code, out, errOut := runCLI("validate", path)
	want := "warning: testdata/literal-dollar.yaml:10:25: exporters.otlphttp.headers.x-tenant: $TENANT is kept literally: outpost expands only ${env:TENANT} (write $$ for a literal $)\n"
	if code != 0 || errOut != want || !strings.HasPrefix(out, path+": valid") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
}

// queue ls takes --config as well as -c.
func TestQueueLsConfigFlag(t *testing.T) {
	for _, flag := range []string{"-c", "--config"} {
		code, out, errOut := runCLI("queue", "ls", flag, "testdata/valid.yaml")
		if code != 0 || out != "storage directory /tmp/outpost-cli-test-never-created: 0 queue(s)\n" {
			t.Errorf("queue ls %s: exit %d, stdout %q, stderr %q", flag, code, out, errOut)
		}
	}
}
