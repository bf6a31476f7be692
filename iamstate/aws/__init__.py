"""The AWS side: sessions, the IAM client, the live reader, last-accessed data, the sandbox."""
