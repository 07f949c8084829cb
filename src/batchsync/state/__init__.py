"""batchsync's own tables: checkpoints (committed beside the data they describe) and run history."""
