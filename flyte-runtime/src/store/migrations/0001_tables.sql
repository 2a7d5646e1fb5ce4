-- The store as flytekit first wrote it (schema version 1).
CREATE TABLE executions (
    id          TEXT PRIMARY KEY,
    workflow    TEXT NOT NULL,
    inputs_hash TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    outputs     BLOB,
    error       TEXT
);
CREATE TABLE nodes (
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
    PRIMARY KEY (execution_id, node_id)
);
CREATE TABLE attempts (
    execution_id TEXT NOT NULL,
    node_id      TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    status       TEXT NOT NULL,
    cause        TEXT,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    PRIMARY KEY (execution_id, node_id, attempt)
);
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    node_id      TEXT,
    attempt      INTEGER,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    message      TEXT NOT NULL
);
CREATE TABLE cache (
    key          TEXT PRIMARY KEY,
    task         TEXT NOT NULL,
    version      TEXT NOT NULL,
    outputs      BLOB NOT NULL,
    execution_id TEXT NOT NULL,
    node_id      TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
