-- Stored values gain a checksum (the blobs are rewritten by the migration's Rust step, which
-- seals each one); a failed attempt keeps how it failed; a node knows from which attempt its
-- current budgets count (a failed execution run again starts them afresh).
ALTER TABLE attempts ADD COLUMN kind TEXT;
ALTER TABLE nodes ADD COLUMN first_attempt INTEGER NOT NULL DEFAULT 1;
CREATE INDEX events_by_execution ON events (execution_id, seq);
