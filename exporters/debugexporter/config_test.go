package debugexporter

import (
	"os"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
)

// decode decodes YAML strictly onto the factory's defaults, as the config
// loader does.
func decode(t *testing.T, src []byte) (*Config, error) {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	return cfg, configs.Decode("test.yaml", src, cfg)
}

func TestConfigDefaults(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	want := Config{Verbosity: VerbosityBasic, SamplingInitial: 2, SamplingThereafter: 1, Output: OutputLogger}
	if *cfg != want {
		t.Fatalf("defaults = %+v, want %+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestConfigDecode(t *testing.T) {
	src, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := decode(t, src)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Verbosity: VerbosityDetailed, SamplingInitial: 5, SamplingThereafter: 100, Output: OutputStderr}
	if *cfg != want {
		t.Fatalf("decoded %+v, want %+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	// Keys left out keep their defaults.
	cfg, err = decode(t, []byte("verbosity: normal\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SamplingInitial != 2 || cfg.Output != OutputLogger {
		t.Fatalf("defaults lost: %+v", *cfg)
	}

	if _, err := decode(t, []byte("verbosty: normal\n")); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	f := func(name, src string, want ...string) {
		t.Run(name, func(t *testing.T) {
			cfg, err := decode(t, []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if len(want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(want) {
				t.Fatalf("got %d errors %q, want %d", len(lines), lines, len(want))
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
	f("ok", "verbosity: normal\noutput: stdout\nsampling_thereafter: 0\n")
	f("verbosity", "verbosity: loud\n", `verbosity: unknown value "loud"`)
	f("negative sampling", "sampling_initial: -1\nsampling_thereafter: -2\n",
		"sampling_initial: must not be negative", "sampling_thereafter: must not be negative")
	f("output", "output: syslog\n", `output: unknown value "syslog"`)
	f("all", "verbosity: x\nsampling_initial: -1\noutput: y\n",
		"verbosity:", "sampling_initial:", "output:")
}
