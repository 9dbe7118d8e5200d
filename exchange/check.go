package exchange

import (
	"errors"
	"fmt"
	"sort"

	"github.com/exchanged/exchanged/config"
)

// CheckConfig checks what the config package cannot know on its own: that
// every job's transform can be built by this build's transform package.
// It touches no endpoint.
func CheckConfig(cfg *config.Config) error {
	names := make([]string, 0, len(cfg.Jobs))
	for n := range cfg.Jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		if cfg.Jobs[n].Transform != nil {
			errs = append(errs, fmt.Errorf("jobs.%s.transform: not available in this build", n))
		}
	}
	return errors.Join(errs...)
}
