"""Plans: kinds of change, the planner, the plan file, checks, apply."""
