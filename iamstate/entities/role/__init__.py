"""IAM roles, read for the analysis only."""
