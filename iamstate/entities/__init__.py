"""The entities iamstate reads into a `State`, each in a package (or module) of its own:
what an entity is, in base.py; the registrations, in registry.py."""
