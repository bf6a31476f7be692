"""Field metadata of the model dataclasses: what a plan file holds (see entities.io)."""

NOT_IN_PLAN = {"plan": False}  # context that stays out of plan files
IF_SET = {"plan": "if set"}  # in plan files only when not None
