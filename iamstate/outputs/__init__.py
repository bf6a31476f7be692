"""What people and machines read: text, markdown, JSON."""
