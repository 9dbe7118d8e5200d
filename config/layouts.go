package config

import (
	"errors"
	"fmt"
	"os"
)

// LoadLayouts reads the config file at path for its layouts only, as
// `exchanged check` needs them: the file is read and decoded as strictly
// as Load does (an unknown key is still an error), but no secret is
// expanded, no key or known_hosts file is read and only layouts: is
// validated (with each layout's creditor), so that a person with the
// config but without the production secrets can check a creditor's file.
// The Config returned has its Version and Layouts set, nothing else.
func LoadLayouts(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := decode(f)
	if err != nil {
		return nil, err
	}
	var p problems
	c.validateLayouts(&p)
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return &Config{Version: c.Version, Layouts: c.Layouts}, nil
}

// validateLayouts checks each layout and its creditor.
func (c *Config) validateLayouts(p *problems) {
	for _, name := range sortedKeys(c.Layouts) {
		validateLayout(p, name, c.Layouts[name])
		c.validateLayoutCreditor(p, name, c.Layouts[name])
	}
}
