"""Customer managed policies (see entity.py): model, YAML, GAAD, kinds."""
