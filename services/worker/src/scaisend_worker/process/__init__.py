"""Message processing: the pipeline and its steps."""
