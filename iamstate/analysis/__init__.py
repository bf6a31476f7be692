"""What a state means: permissions, escalation, consequences, lint, audit, CIS, unused."""
