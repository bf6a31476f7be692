"""The account password policy (see entity.py): model, account.yaml, API, kind."""
