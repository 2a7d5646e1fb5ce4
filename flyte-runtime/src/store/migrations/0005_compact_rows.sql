-- Nodes and attempts are found by their primary key only: stored in it (WITHOUT ROWID), a
-- record touches one B-tree instead of a table and its key's index, which halves the pages a
-- commit writes. Executions are listed newest first, through an index.
CREATE TABLE nodes_by_key (
    execution_id    TEXT NOT NULL,
    node_id         TEXT NOT NULL,
    task            TEXT NOT NULL,
    status          TEXT NOT NULL,
    user_failures   INTEGER NOT NULL DEFAULT 0,
    system_failures INTEGER NOT NULL DEFAULT 0,
    cache_hit       INTEGER NOT NULL DEFAULT 0,
    started_at      INTEGER,
    ended_at        INTEGER,
    outputs         BLOB,
    first_attempt   INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (execution_id, node_id)
) WITHOUT ROWID;
INSERT INTO nodes_by_key
    SELECT execution_id, node_id, task, status, user_failures, system_failures, cache_hit,
           started_at, ended_at, outputs, first_attempt
    FROM nodes;
DROP TABLE nodes;
ALTER TABLE nodes_by_key RENAME TO nodes;

CREATE TABLE attempts_by_key (
    execution_id TEXT NOT NULL,
    node_id      TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    status       TEXT NOT NULL,
    cause        TEXT,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    kind         TEXT,
    PRIMARY KEY (execution_id, node_id, attempt)
) WITHOUT ROWID;
INSERT INTO attempts_by_key
    SELECT execution_id, node_id, attempt, status, cause, started_at, ended_at, kind
    FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_by_key RENAME TO attempts;

CREATE INDEX executions_by_start ON executions (started_at DESC, id);
