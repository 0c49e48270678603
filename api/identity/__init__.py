"""Identity: users, sessions (JWT + rotating refresh tokens), API keys, and the one authorization rule table."""
