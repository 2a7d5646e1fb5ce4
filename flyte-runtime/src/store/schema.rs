//! The database's schema: numbered migrations (`migrations/000N-*.sql`), applied in order
//! and recorded in SQLite's `user_version`.
//!
//! Not `rusqlite_migration`: it reads the version outside the transaction that migrates, so two
//! processes opening a new store at once would both apply the first migration. Here the version
//! is read again once the write lock is held.

use rusqlite::types::ValueRef;
use rusqlite::{named_params, Connection, Transaction, TransactionBehavior};

use super::sealed;
use crate::error::StoreError;

struct Migration {
    sql: &'static str,
    /// What SQL cannot do, run after `sql` in the same transaction.
    then: Option<fn(&Transaction<'_>) -> rusqlite::Result<()>>,
}

const MIGRATIONS: [Migration; 5] = [
    Migration {
        sql: include_str!("migrations/0001_tables.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("migrations/0002_execution_inputs.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("migrations/0003_checked_values.sql"),
        then: Some(seal_stored_values),
    },
    Migration {
        sql: include_str!("migrations/0004_subgraphs.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("migrations/0005_compact_rows.sql"),
        then: None,
    },
];

/// The schema this flytekit writes.
pub(super) const LATEST: usize = MIGRATIONS.len();

/// Brings the database to the latest schema.
pub(super) fn migrate(db: &mut Connection) -> Result<(), StoreError> {
    apply(db, LATEST)
}

fn apply(db: &mut Connection, to: usize) -> Result<(), StoreError> {
    // Most opens find the schema current: no need for the write lock then.
    if version(db)? == to {
        return Ok(());
    }
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from = version(&tx)?;
    if from > LATEST {
        return Err(StoreError::Schema(from as i64));
    }
    for migration in MIGRATIONS.get(from..to).unwrap_or_default() {
        tx.execute_batch(migration.sql)?;
        if let Some(step) = migration.then {
            step(&tx)?;
        }
    }
    tx.pragma_update(None, "user_version", to.max(from) as i64)?;
    tx.commit()?;
    Ok(())
}

fn version(db: &Connection) -> Result<usize, StoreError> {
    let v: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0))?;
    usize::try_from(v).map_err(|_| StoreError::Schema(v))
}

/// Seals every value written before values carried a checksum. What was framed as a value
/// then is trusted this once; anything else is left as it is, and fails its check when read.
fn seal_stored_values(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    for (table, column) in [
        ("executions", "outputs"),
        ("executions", "inputs"),
        ("nodes", "outputs"),
        ("cache", "outputs"),
    ] {
        let mut select = tx.prepare(&format!("SELECT rowid, {column} FROM {table}"))?;
        let mut update = tx.prepare(&format!("UPDATE {table} SET {column} = :value WHERE rowid = :rowid"))?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            if let ValueRef::Blob(framed) = row.get_ref(1)? {
                if let Some(sealed) = sealed::seal_legacy(framed) {
                    update.execute(named_params! {":value": sealed, ":rowid": rowid})?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(db: &Connection) -> Vec<String> {
        let mut stmt = db
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn every_migration_applies_in_turn_and_all_paths_end_at_one_schema() {
        let mut stepwise = Connection::open_in_memory().unwrap();
        for to in 1..=LATEST {
            apply(&mut stepwise, to).unwrap_or_else(|e| panic!("migration {to}: {e}"));
            assert_eq!(version(&stepwise).unwrap(), to);
        }
        let mut at_once = Connection::open_in_memory().unwrap();
        migrate(&mut at_once).unwrap();
        assert_eq!(schema(&stepwise), schema(&at_once));
        // Applied again, nothing happens.
        migrate(&mut at_once).unwrap();
        assert_eq!(version(&at_once).unwrap(), LATEST);
    }

    #[test]
    fn values_of_a_version_1_store_are_sealed_and_kept() {
        let mut db = Connection::open_in_memory().unwrap();
        apply(&mut db, 1).unwrap();
        let framed = [&3u64.to_le_bytes()[..], b"abc"].concat();
        db.execute(
            "INSERT INTO executions (id, workflow, inputs_hash, status, started_at, outputs)
             VALUES ('old', 'wf', 'h', 'succeeded', 1, ?1)",
            [&framed],
        )
        .unwrap();
        db.execute(
            "INSERT INTO nodes (execution_id, node_id, task, status, outputs) VALUES ('old', 'n0', 't', 'succeeded', ?1)",
            [&[1u8, 2, 3][..]],
        )
        .unwrap();
        migrate(&mut db).unwrap();

        let outputs: Vec<u8> = db
            .query_row("SELECT outputs FROM executions WHERE id = 'old'", [], |r| r.get(0))
            .unwrap();
        let values = sealed::open(&outputs).unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].as_bytes(), b"abc");
        // Not framed as a value was: left alone, so that reading it reports the damage.
        let damaged: Vec<u8> = db.query_row("SELECT outputs FROM nodes", [], |r| r.get(0)).unwrap();
        assert_eq!(damaged, [1, 2, 3]);
        assert!(sealed::open(&damaged).is_err());
        let inputs: Option<Vec<u8>> = db.query_row("SELECT inputs FROM executions", [], |r| r.get(0)).unwrap();
        assert_eq!(inputs, None, "recorded before inputs were kept");
    }

    #[test]
    fn a_store_from_a_newer_flytekit_is_refused_untouched() {
        let mut db = Connection::open_in_memory().unwrap();
        db.pragma_update(None, "user_version", 99).unwrap();
        match migrate(&mut db) {
            Err(StoreError::Schema(99)) => {}
            other => panic!("expected a schema error, got {other:?}"),
        }
        assert!(schema(&db).is_empty(), "nothing was created");
    }
}
