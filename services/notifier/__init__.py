"""The notifier: signed webhooks for final jobs, retried, durable (docs/DESIGN.md, "Webhooks")."""
