package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/exchanged/exchanged/ledger"
)

// errAudit marks an audit chain that does not verify.
var errAudit = errors.New("audit: the record is not whole")

// AuditCommand checks the ledger's audit chain (exchanged audit verify).
type AuditCommand struct {
	stdout, stderr io.Writer
}

// Run verifies the chain of the config's ledger, opened read-only, so it
// is safe beside a running daemon. It prints the head of the chain (note
// it elsewhere: a later verify that finds an earlier head means the tail
// was cut) and every place where the record is not whole, and returns an
// error wrapping errAudit if there is one.
func (c *AuditCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("%w: exchanged audit verify --config FILE [--json]", errUsage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", "", "config file")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: exchanged audit verify --config FILE [--json]", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	l, err := openLedgerReadOnly(cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	r, err := l.VerifyAudit()
	if err != nil {
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(c.stdout).Encode(struct {
			OK bool `json:"ok"`
			*ledger.AuditReport
		}{r.OK(), r}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(c.stdout, "audit: %d record(s) checked, from checkpoint %d to head %d (%s); %d deliveries and %d outputs' subjects compared\n",
			r.Records, r.FromSeq, r.HeadSeq, r.HeadHash, r.Deliveries, r.Outputs)
		for _, p := range r.Problems {
			fmt.Fprintln(c.stdout, "BROKEN:", p)
		}
		if r.OK() {
			fmt.Fprintln(c.stdout, "audit: the chain is whole")
		}
	}
	if !r.OK() {
		return fmt.Errorf("%w: %d problem(s), the first at %s", errAudit, len(r.Problems), r.Problems[0])
	}
	return nil
}
