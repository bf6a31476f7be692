"""iamstate: AWS IAM users, groups and group policies as YAML in git."""

__version__ = "0.1.0"
