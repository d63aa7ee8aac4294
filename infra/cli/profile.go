package cli

import (
	"encoding/json"
	"errors"

	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Profile is one instance in the config file.
type Profile struct {
	URL   string `json:"url"`
	Token string `json:"token,omitempty"`
}

// configFile is the profile file: {"profiles": {"name": {"url", "token"}}}.
type configFile struct {
	Profiles map[string]Profile `json:"profiles"`
}

func (a *app) configPath() string {
	if p := a.env.Getenv("FEDGATE_CONFIG"); p != "" {
		return p
	}
	dir := a.env.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := a.env.Getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "fedgate", "config.json")
}

func (a *app) readConfig() (configFile, error) {
	var cfg configFile
	path := a.configPath()
	if path == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, usagef("%s: %v", path, err)
	}
	return cfg, nil
}

// loadProfile returns the chosen profile: --profile, FEDGATE_PROFILE, or
// "default" when the file has one.
func (a *app) loadProfile() (Profile, error) {
	name := a.profile
	if name == "" {
		name = a.env.Getenv("FEDGATE_PROFILE")
	}
	cfg, err := a.readConfig()
	if err != nil {
		return Profile{}, err
	}
	if name == "" {
		return cfg.Profiles["default"], nil
	}
	p, ok := cfg.Profiles[name]
	if !ok {
		return Profile{}, usagef("no profile %q in %s", name, a.configPath())
	}
	return p, nil
}

func (a *app) profileCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Named instances in the config file (FEDGATE_CONFIG or ~/.config/fedgate/config.json)"}
	var url, token string
	set := &cobra.Command{Use: "set NAME --url URL [--token JWT]", Short: "Add or change a profile", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := NewClient(url, "", nil); err != nil {
				return usageError{err}
			}
			cfg, err := a.readConfig()
			if err != nil {
				return err
			}
			if cfg.Profiles == nil {
				cfg.Profiles = map[string]Profile{}
			}
			cfg.Profiles[args[0]] = Profile{URL: url, Token: token}
			path := a.configPath()
			if path == "" {
				return usagef("no config path: set FEDGATE_CONFIG or HOME")
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			data, _ := json.MarshalIndent(cfg, "", "  ")
			return os.WriteFile(path, append(data, '\n'), 0o600) // it may hold tokens
		}}
	set.Flags().StringVar(&url, "url", "", "instance base URL")
	set.Flags().StringVar(&token, "token", "", "bearer JWT")
	_ = set.MarkFlagRequired("url")
	list := &cobra.Command{Use: "list", Short: "List the profiles", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := a.readConfig()
			if err != nil {
				return err
			}
			if a.json {
				return printValue(c.OutOrStdout(), cfg)
			}
			names := make([]string, 0, len(cfg.Profiles))
			for n := range cfg.Profiles {
				names = append(names, n)
			}
			slices.Sort(names)
			t := newTable(c.OutOrStdout(), "PROFILE", "URL", "TOKEN")
			for _, n := range names {
				t.row(n, cfg.Profiles[n].URL, strings.Repeat("*", min(len(cfg.Profiles[n].Token), 8)))
			}
			return t.flush()
		}}
	cmd.AddCommand(set, list)
	return cmd
}
