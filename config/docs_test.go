package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

const docsPath = "../docs/config.md"

// docs/config.md documents every key, and its minimal file parses.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, typ := range []any{Config{}, Log{}, HTTP{}, Runs{}, Retry{}, Retention{}, Partner{}, SFTP{}, Local{}, Job{}, Expect{}, Source{}, Transform{}, Destination{}, Layout{}} {
		for key := range structFields(reflectType(typ)) {
			if !strings.Contains(doc, "| `"+key+"` |") && !strings.Contains(doc, "| `log."+key+"` |") &&
				!strings.Contains(doc, "| `http."+key+"` |") &&
				!strings.Contains(doc, "| `runs."+key+"` |") && !strings.Contains(doc, "| `runs.retry."+key+"` |") && !strings.Contains(doc, "| `retention."+key+"` |") && !strings.Contains(doc, "| `local."+key+"` |") {
				t.Errorf("docs/config.md has no table row for %s (%T)", key, typ)
			}
		}
	}
	m := regexp.MustCompile("(?s)### A minimal file\n\n```yaml\n(.*?)```").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("no minimal file in docs/config.md")
	}
	t.Setenv("ACME_SSH_KEY", testKey)
	minimal := strings.ReplaceAll(m[1], "/etc/exchanged/known_hosts", testKnownHosts)
	if _, err := Parse(strings.NewReader(minimal)); err != nil {
		t.Errorf("the minimal file in docs/config.md: %v", err)
	}
}
