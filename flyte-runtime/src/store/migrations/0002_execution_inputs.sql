-- An execution keeps its inputs, so that `resume` can run it again by id alone.
ALTER TABLE executions ADD COLUMN inputs BLOB;
