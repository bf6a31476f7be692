"""IAM users (see entity.py): model, YAML, GAAD, kinds."""
