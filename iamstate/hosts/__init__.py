"""CI hosts: the workflows' commands, GitHub."""
