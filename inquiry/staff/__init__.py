"""Staff: accounts, roles, API tokens, sign-in, and the audit log of what staff read and change."""
