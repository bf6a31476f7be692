"""IAM groups (see entity.py): model, YAML, GAAD, kinds."""
