package main

import (
	"context"
	"fmt"
	"io"
)

// CheckCommand validates one CSV offline against a layout.
type CheckCommand struct {
	stdout io.Writer
}

func (c *CheckCommand) Run(ctx context.Context, args []string) error {
	return fmt.Errorf("check: not available in this build")
}
