"""batchsync: keep a local SQL database in step with remote HTTP APIs."""
