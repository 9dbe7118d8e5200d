package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Leases: the claims of the nodes of a cluster, several exchanged
// processes on one PostgreSQL ledger (OpenPostgresCluster). A lease is a
// row of table leases: its name (job:<job>, conn:<partner>:<slot>,
// purge), the node that holds it, a token and when it expires, in the
// database's clock. It is taken when free or expired, each time with a
// new token; renewed by its holder while it works; released when it is
// done. Every ledger write made under a lease carries it (Fenced): the
// write's transaction reads the lease row FOR SHARE first, so a takeover
// waits for it, and refuses the write (ErrFenced) unless the token is the
// current one and the lease has not expired. Only PostgreSQL has leases:
// on SQLite, one process owns the ledger (the state_dir lock).

// ErrFenced is returned by a write made under a lease (Fenced) that is no
// longer the writer's: taken over by another node with a new token, or
// expired. Nothing of the write is applied.
var ErrFenced = errors.New("ledger: the lease this write was made under is no longer held")

// errNoLeases is returned by the lease calls of a SQLite ledger.
var errNoLeases = errors.New("ledger: leases need a PostgreSQL ledger")

// fence is the lease a fenced Ledger writes under.
type fence struct {
	name   string
	token  int64
	fenced func() // called when a write is refused, if set
}

// Fenced returns a view of l whose every write is made under lease name,
// as taken with token (see TakeLease): a write fails with ErrFenced, and
// changes nothing, when that is no longer the lease's current token or
// the lease expired; fenced, if not nil, is then called (the caller stops
// its work at once). Reads are l's. The view shares l's connection; it
// must not be closed (close l).
func (l *Ledger) Fenced(name string, token int64, fenced func()) *Ledger {
	return &Ledger{shared: l.shared, fence: &fence{name: name, token: token, fenced: fenced}}
}

// check refuses, inside a write transaction, a write whose lease is not
// held: it locks the lease row FOR SHARE until tx ends, so that the lease
// cannot be taken over before the write is committed or undone.
func (f *fence) check(tx *sql.Tx) error {
	if f == nil {
		return nil
	}
	var held bool
	err := tx.QueryRow(`SELECT token = ? AND expires_at > clock_timestamp() FROM leases WHERE name = ? FOR SHARE`,
		f.token, f.name).Scan(&held)
	if errors.Is(err, sql.ErrNoRows) {
		held, err = false, nil
	}
	if err != nil {
		return err
	}
	if !held {
		if f.fenced != nil {
			f.fenced()
		}
		return fmt.Errorf("%w: %s (token %d)", ErrFenced, f.name, f.token)
	}
	return nil
}

// Lease is a lease as the ledger holds it.
type Lease struct {
	Name, Node string
	Token      int64
	Expires    time.Time // in the database's clock
}

// leaseDB returns the connections leases are taken and renewed on: a
// pool of their own, so that a heartbeat never waits behind the ledger's
// writes on its one connection.
func (l *Ledger) leaseDB() (*sql.DB, error) {
	if l.leases == nil {
		return nil, errNoLeases
	}
	return l.leases, nil
}

// millis is d as whole milliseconds, at least 1.
func millis(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// TakeLease takes lease name for node, for d from now in the database's
// clock, if it is free or expired, and returns its new token; ok is false,
// and the token 0, when another holder's lease has not expired (that
// holder may be this node, in an earlier process).
func (l *Ledger) TakeLease(ctx context.Context, name, node string, d time.Duration) (token int64, ok bool, err error) {
	db, err := l.leaseDB()
	if err != nil {
		return 0, false, err
	}
	err = db.QueryRowContext(ctx, `INSERT INTO leases (name, node, token, expires_at)
		VALUES (?, ?, nextval('lease_tokens'), clock_timestamp() + ?::bigint * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET node = excluded.node, token = excluded.token, expires_at = excluded.expires_at
		WHERE leases.expires_at < clock_timestamp()
		RETURNING token`, name, node, millis(d)).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("ledger: take lease %s: %w", name, err)
	}
	return token, true, nil
}

// RenewLease extends lease name, as taken with token, to d from now in the
// database's clock. ok is false when it is no longer held with token, or
// has expired: then it is not renewed, and the caller's work under it
// must stop.
func (l *Ledger) RenewLease(ctx context.Context, name string, token int64, d time.Duration) (ok bool, err error) {
	db, err := l.leaseDB()
	if err != nil {
		return false, err
	}
	res, err := db.ExecContext(ctx, `UPDATE leases SET expires_at = clock_timestamp() + ?::bigint * interval '1 millisecond'
		WHERE name = ? AND token = ? AND expires_at > clock_timestamp()`, millis(d), name, token)
	if err != nil {
		return false, fmt.Errorf("ledger: renew lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("ledger: renew lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up lease name as taken with token, so that another
// node may take it at once. A lease since taken by another is left alone.
func (l *Ledger) ReleaseLease(ctx context.Context, name string, token int64) error {
	db, err := l.leaseDB()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND token = ?`, name, token); err != nil {
		return fmt.Errorf("ledger: release lease %s: %w", name, err)
	}
	return nil
}

// LeaseHolder returns lease name as the ledger holds it, expired or not,
// or an error wrapping ErrNotFound when it was never taken or was
// released.
func (l *Ledger) LeaseHolder(ctx context.Context, name string) (Lease, error) {
	db, err := l.leaseDB()
	if err != nil {
		return Lease{}, err
	}
	ls := Lease{Name: name}
	err = db.QueryRowContext(ctx, `SELECT node, token, expires_at FROM leases WHERE name = ?`, name).
		Scan(&ls.Node, &ls.Token, &ls.Expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ls, fmt.Errorf("ledger: lease %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return ls, fmt.Errorf("ledger: lease %s: %w", name, err)
	}
	return ls, nil
}

// SetStagedOn records that node holds the staged copy of file id (in a
// cluster, staging is local to each node): the copy of any other node is
// stale from then on.
func (l *Ledger) SetStagedOn(id int64, node string) error {
	if err := l.updateFile(id, `UPDATE files SET staged_on = ? WHERE id = ?`, node); err != nil {
		return fmt.Errorf("ledger: file %d staged on %s: %w", id, node, err)
	}
	return nil
}

// StagedOn returns the node that holds the staged copy of file id, ""
// when none was recorded (File.StagedOn).
func (l *Ledger) StagedOn(id int64) (string, error) {
	f, err := l.File(id)
	if err != nil {
		return "", err
	}
	return f.StagedOn, nil
}

// MarkRejecting records that file id, rejected whole, is over but for the
// clean of its source and its record as rejected (SetState): in a
// cluster, which cleans the source last, a node that takes the file over
// finishes it from this, whether the source is still there or not.
func (l *Ledger) MarkRejecting(id int64) error {
	if err := l.updateFile(id, `UPDATE files SET rejecting = 1 WHERE id = ?`); err != nil {
		return fmt.Errorf("ledger: file %d rejecting: %w", id, err)
	}
	return nil
}

// Rejecting reports whether file id was marked by MarkRejecting
// (File.Rejecting).
func (l *Ledger) Rejecting(id int64) (bool, error) {
	f, err := l.File(id)
	if err != nil {
		return false, err
	}
	return f.Rejecting, nil
}

// updateFile makes the write q on file id, whose id is q's last
// parameter (after args); ErrNotFound when there is no such file.
func (l *Ledger) updateFile(id int64, q string, args ...any) error {
	return l.update(func(tx *sql.Tx) error {
		res, err := tx.Exec(q, append(args, id)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, ErrNotFound)
		}
		return nil
	})
}
