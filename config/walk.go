package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// walker checks a YAML document against the shape of a Go type before it
// is decoded, so that an unknown key, a duplicate key or a value of the
// wrong type is reported with its path ("partners.acme.sftp.hots: unknown
// key") and line, where yaml.v3's own errors name a Go type. Its messages
// never repeat a value: a value in the wrong place may be a secret.
type walker struct {
	errs []error
	// budget is how many more nodes walk may visit. Aliases make a small
	// document a large tree (a chain of merge keys, each merging the one
	// before ten times, doubles nothing and multiplies everything); the
	// budget stops the walk, with one error, before that costs minutes.
	budget int
	over   bool
	seen   map[string]bool // problems reported, so that one reached through many aliases is named once
}

// newWalker returns a walker for the document under root: it may visit
// aliasRatio times the document's own nodes, and at least minBudget.
func newWalker(root *yaml.Node) *walker {
	return &walker{budget: max(minBudget, aliasRatio*countNodes(root)), seen: make(map[string]bool)}
}

const (
	aliasRatio = 10
	minBudget  = 100_000
)

// countNodes counts the nodes of a document as written, not following
// aliases.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

// spend takes one node from the budget and reports whether the walk may go on.
func (w *walker) spend(n *yaml.Node) bool {
	if w.budget > 0 {
		w.budget--
		return true
	}
	if !w.over {
		w.over = true
		w.fail("", n, "config: aliases expand the document too far; write it out without nested aliases")
	}
	return false
}

var (
	secretType   = reflect.TypeOf(Secret{})
	durationType = reflect.TypeOf(Duration(0))
)

func (w *walker) fail(path string, n *yaml.Node, msg string) {
	e := &FieldError{Path: path, Line: n.Line, Msg: msg}
	if w.seen[e.Error()] {
		return
	}
	w.seen[e.Error()] = true
	w.errs = append(w.errs, e)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk checks node n, found at path, against type t. A null is accepted
// anywhere: it leaves the field at its default.
func (w *walker) walk(path string, n *yaml.Node, t reflect.Type) {
	if !w.spend(n) {
		return
	}
	n = resolve(n)
	if isNull(n) {
		return
	}
	switch t {
	case secretType:
		if n.Kind != yaml.ScalarNode {
			w.fail(path, n, errNotRef.Error())
		} else if n.Value != "" {
			if _, _, err := parseRef(n.Value); err != nil {
				w.fail(path, n, err.Error())
			}
		}
		return
	case durationType:
		if n.Kind != yaml.ScalarNode {
			w.fail(path, n, errDuration.Error())
		} else if _, err := parseDuration(n.Value); err != nil {
			w.fail(path, n, err.Error())
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		w.walk(path, n, t.Elem())
	case reflect.Struct:
		fields := structFields(t)
		w.mapping(path, n, func(key string) (reflect.Type, bool) {
			ft, ok := fields[key]
			return ft, ok
		}, fields)
	case reflect.Map:
		w.mapping(path, n, func(string) (reflect.Type, bool) { return t.Elem(), true }, nil)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(path, n, "must be a list")
			return
		}
		for i, item := range n.Content {
			w.walk(fmt.Sprintf("%s[%d]", path, i), item, t.Elem())
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.fail(path, n, "must be a string")
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			w.fail(path, n, "must be an integer")
		} else if _, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, strconv.IntSize); err != nil {
			w.fail(path, n, "must be an integer in range")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			w.fail(path, n, "must be true or false")
		}
	default:
		w.fail(path, n, "cannot be set in the file")
	}
}

// mapping checks a mapping node whose keys are looked up with field. It
// follows merge keys (<<: *anchor) and reports duplicate keys.
// known, when not nil, are the keys to suggest for a misspelt one.
func (w *walker) mapping(path string, n *yaml.Node, field func(string) (reflect.Type, bool), known map[string]reflect.Type) {
	if !w.spend(n) {
		return
	}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		w.fail(path, n, "must be a mapping of keys")
		return
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			v = resolve(v)
			if v.Kind == yaml.SequenceNode {
				for _, m := range v.Content {
					w.mapping(path, m, field, known)
				}
			} else {
				w.mapping(path, v, field, known)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.fail(path, k, "a key must be a plain string")
			continue
		}
		kp := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			w.fail(kp, k, fmt.Sprintf("duplicate key (first at line %d)", line))
			continue
		}
		seen[k.Value] = k.Line
		t, ok := field(k.Value)
		if !ok {
			msg := "unknown key"
			if s := suggest(k.Value, known); s != "" {
				msg += "; did you mean " + s + "?"
			}
			w.fail(kp, k, msg)
			continue
		}
		w.walk(kp, v, t)
	}
}

// structFields maps a struct's yaml key names to field types.
func structFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// suggest returns the known key closest to key, if it is a likely typo
// (at most two edits away), else "".
func suggest(key string, known map[string]reflect.Type) string {
	best, bestD := "", 3
	for _, k := range sortedKeys(known) {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
