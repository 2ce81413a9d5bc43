"""The callback queue: phone calls owed to visitors, claimed on a lease, attempted, closed."""
