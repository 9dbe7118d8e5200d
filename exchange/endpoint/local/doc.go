// Package local is the endpoint of a local directory tree: every path is
// confined to its root with os.Root, a symlink is never followed, nothing
// is ever replaced, and what it writes is synced with its directory.
package local
