"""Failure detection with Spark ML (issue 19): a scientist's session on the warehouse, the
features shared by training and the stream, the threshold baseline, evaluation against the
simulator's ground truth, the model registry with its promotion gate, and the scoring job."""
