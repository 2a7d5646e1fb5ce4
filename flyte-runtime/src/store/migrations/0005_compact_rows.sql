-- What a node's commits touch, made small (commit.rs batches them; these make each smaller):
-- nodes and attempts are found by their primary key only, so they are stored in it (WITHOUT
-- ROWID): one B-tree each instead of a table and its key's index. The attempt a node is running,
-- or ran last, lives in the node's row (`attempt`, `attempt_started_at`), so that starting an
-- attempt and succeeding write that row alone; the attempts table keeps the attempts that ended
-- otherwise (failed, interrupted) and the one that built a dynamic node's graph, and, in stores
-- written before this version, every attempt. Executions are listed newest first, by an index.
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
    attempt         INTEGER NOT NULL DEFAULT 0,
    attempt_started_at INTEGER,
    PRIMARY KEY (execution_id, node_id)
) WITHOUT ROWID;
INSERT INTO nodes_by_key
    SELECT n.execution_id, n.node_id, n.task, n.status, n.user_failures, n.system_failures,
           n.cache_hit, n.started_at, n.ended_at, n.outputs, n.first_attempt,
           COALESCE(a.attempt, 0), a.started_at
    FROM nodes n LEFT JOIN attempts a
      ON a.execution_id = n.execution_id AND a.node_id = n.node_id
     AND a.attempt = (SELECT MAX(attempt) FROM attempts l
                      WHERE l.execution_id = n.execution_id AND l.node_id = n.node_id);
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
