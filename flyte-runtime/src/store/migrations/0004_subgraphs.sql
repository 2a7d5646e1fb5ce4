-- The graph a dynamic node's body built (sealed, as values are), so that the execution, run
-- again, runs that same graph instead of building another.
CREATE TABLE subgraphs (
    execution_id TEXT NOT NULL,
    node_id      TEXT NOT NULL,
    graph        BLOB NOT NULL,
    PRIMARY KEY (execution_id, node_id)
);
