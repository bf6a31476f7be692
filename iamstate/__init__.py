"""iamstate: AWS IAM users, groups and group policies as YAML in git."""

__version__ = "0.2.0"
