"""The frozen model: entities, state, changes."""
