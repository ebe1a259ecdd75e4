"""Mail: a durable outbox, rendering from templates, and delivery by SMTP or to a folder."""
